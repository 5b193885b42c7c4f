namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// Set on a device that picked the right approval number for a login started elsewhere. It lets that
/// device verify the login (never sign in: only the pending-login cookie completes a sign-in).
/// </summary>
public static class LoginApprovalCookie
{
    public const string Name = "AccountsPortal.LoginApproval";

    public static void Append(HttpContext context, string secret, DateTimeOffset expiresAt) =>
        context.Response.Cookies.Append(Name, secret, new CookieOptions
        {
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            SameSite = SameSiteMode.Lax,
            IsEssential = true,
            Path = "/",
            Expires = expiresAt,
        });

    public static string? Read(HttpContext context) => context.Request.Cookies[Name];
}
