using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>Codes from an authenticator app: on once set up; passkeys take precedence over it.</summary>
public sealed class TotpSecondFactor(PortalDbContext db) : ISecondFactor
{
    public const string FactorName = "totp";
    public const string VerifyPagePath = "/two-factor/verify";

    public string Name => FactorName;

    public string DisplayName => "Authenticator app";

    public int Precedence => 50;

    public Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken) =>
        db.TotpAuthenticators.AnyAsync(t => t.UserId == userId, cancellationToken);

    public string VerifyPath(string loginSessionId) => $"{VerifyPagePath}?session={Uri.EscapeDataString(loginSessionId)}";
}
