namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// Set on a device that picked the right approval number for a login started elsewhere. It lets that
/// device verify the login (never sign in: only the pending-login cookie completes a sign-in).
/// </summary>
public static class LoginApprovalCookie
{
    public const string Name = "AccountsPortal.LoginApproval";

    public static void Append(HttpContext context, string secret, DateTimeOffset expiresAt) => SecretCookies.Append(context, Name, secret, expiresAt);

    public static string? Read(HttpContext context) => SecretCookies.Read(context, Name);
}
