namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>Limits of login sessions. Bound from the "LoginSessions" configuration section.</summary>
public sealed class LoginSessionOptions
{
    public const string SectionName = "LoginSessions";

    /// <summary>How long a login may take from the password step to sign-in.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Failed second-factor attempts after which the login session is closed: refused passkey answers, wrong or
    /// used authenticator codes and wrong recovery keys alike, on every way in. The person then logs in again.
    /// </summary>
    public int MaxFailedAttempts { get; set; } = 5;
}
