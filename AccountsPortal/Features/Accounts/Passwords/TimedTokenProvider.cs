using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;

namespace AccountsPortal.Features.Accounts.Passwords;

/// <summary>
/// Identity's token provider for password-reset links, on the portal's clock: the token is the data-protected
/// creation time, user id, purpose and security stamp (as Identity's DataProtectorTokenProvider makes it, which
/// reads the system clock and so cannot be tested for expiry). Valid for <see cref="Lifetime"/> and only while
/// the account's security stamp is unchanged: a reset rotates the stamp, so each link works once.
/// </summary>
public sealed class TimedTokenProvider(IDataProtectionProvider dataProtection, TimeProvider time) : IUserTwoFactorTokenProvider<PortalUser>
{
    public const string ProviderName = "PortalTimed";

    /// <summary>How long a reset link works.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private readonly IDataProtector protector = dataProtection.CreateProtector("AccountsPortal.TimedToken");

    public async Task<string> GenerateAsync(string purpose, UserManager<PortalUser> manager, PortalUser user)
    {
        var payload = Payload(time.GetUtcNow(), user.Id, purpose, await manager.GetSecurityStampAsync(user));
        return Base64Url.EncodeToString(protector.Protect(payload));
    }

    public async Task<bool> ValidateAsync(string purpose, string token, UserManager<PortalUser> manager, PortalUser user)
    {
        byte[] payload;
        try
        {
            payload = protector.Unprotect(Base64Url.DecodeFromChars(token));
        }
        catch (Exception exception) when (exception is CryptographicException or FormatException)
        {
            return false;
        }

        if (payload.Length < sizeof(long))
        {
            return false;
        }

        var created = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(payload));
        var now = time.GetUtcNow();
        var expected = Payload(created, user.Id, purpose, await manager.GetSecurityStampAsync(user));
        return created <= now && now - created <= Lifetime && CryptographicOperations.FixedTimeEquals(payload, expected);
    }

    public Task<bool> CanGenerateTwoFactorTokenAsync(UserManager<PortalUser> manager, PortalUser user) => Task.FromResult(false);

    private static byte[] Payload(DateTimeOffset created, string userId, string purpose, string? stamp)
    {
        var text = Encoding.UTF8.GetBytes($"{userId}\n{purpose}\n{stamp}");
        var payload = new byte[sizeof(long) + text.Length];
        BinaryPrimitives.WriteInt64BigEndian(payload, created.ToUnixTimeMilliseconds());
        text.CopyTo(payload, sizeof(long));
        return payload;
    }
}
