using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Passkeys;

/// <summary>Passkeys as a second factor: on while the account has at least one, and ahead of any other factor.</summary>
public sealed class PasskeySecondFactor(PortalDbContext db) : ISecondFactor
{
    public const string FactorName = "passkey";
    public const string VerifyPagePath = "/passkeys/verify";

    public string Name => FactorName;

    public string DisplayName => "Passkeys";

    public int Precedence => 100;

    public Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken) =>
        db.Passkeys.AnyAsync(p => p.UserId == userId, cancellationToken);

    public string VerifyPath(string loginSessionId) => $"{VerifyPagePath}?session={Uri.EscapeDataString(loginSessionId)}";
}
