using System.Globalization;
using System.Security.Claims;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// How a login proved who it was, as Authentication Method Reference values (RFC 8176 §2), kept on the login session,
/// carried in the browser's sign-in ticket (<see cref="ClaimType"/>, <see cref="AuthTimeClaimType"/>) and handed to
/// apps in OpenID Connect ID tokens (<c>amr</c>, <c>auth_time</c>, OpenID Connect Core §2).
/// </summary>
public static class AuthenticationMethods
{
    /// <summary>The claim type of each method in the sign-in ticket (one claim per value).</summary>
    public const string ClaimType = "amr";

    /// <summary>The claim type of the sign-in time, seconds since the Unix epoch (OpenID Connect Core §2 <c>auth_time</c>).</summary>
    public const string AuthTimeClaimType = "auth_time";

    /// <summary>A password (RFC 8176 "pwd").</summary>
    public const string Password = "pwd";

    /// <summary>A passkey that stays on its device (not backup eligible): a hardware-secured key (RFC 8176 "hwk").</summary>
    public const string HardwareKey = "hwk";

    /// <summary>A synced passkey (backup eligible): a software-secured key (RFC 8176 "swk").</summary>
    public const string SoftwareKey = "swk";

    /// <summary>An authenticator app's code, or the single-use recovery key (RFC 8176 "otp").</summary>
    public const string OneTimePassword = "otp";

    /// <summary>Two or more factors (RFC 8176 "mfa").</summary>
    public const string MultiFactor = "mfa";

    /// <summary>The password alone (an account without a second factor).</summary>
    public const string PasswordOnly = Password;

    /// <summary>The password, then an authenticator app's code or the recovery key.</summary>
    public const string PasswordAndCode = Password + " " + OneTimePassword + " " + MultiFactor;

    /// <summary>The password, then a passkey.</summary>
    public static string PasswordAndPasskey(bool backupEligible) => $"{Password} {KeyOf(backupEligible)} {MultiFactor}";

    /// <summary>
    /// A passkey alone, with user verification required (its PIN or biometric): possession and the authenticator's own
    /// check, so two factors.
    /// </summary>
    public static string PasskeyAlone(bool backupEligible) => $"{KeyOf(backupEligible)} {MultiFactor}";

    /// <summary>The stored space-separated values as a list (none for a login session stored before methods were kept).</summary>
    public static IReadOnlyList<string> Parse(string? stored) =>
        string.IsNullOrWhiteSpace(stored) ? [] : stored.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The claims a browser's sign-in ticket gets: one <see cref="ClaimType"/> per method and the sign-in time.</summary>
    public static IEnumerable<Claim> Claims(string? stored, DateTimeOffset signedInAt) =>
        Parse(stored).Select(method => new Claim(ClaimType, method))
            .Append(new Claim(AuthTimeClaimType, signedInAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64));

    /// <summary>The sign-in time a ticket carries, or null for a ticket issued before it was kept.</summary>
    public static DateTimeOffset? AuthTimeOf(ClaimsPrincipal principal) =>
        long.TryParse(principal.FindFirst(AuthTimeClaimType)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    private static string KeyOf(bool backupEligible) => backupEligible ? SoftwareKey : HardwareKey;
}
