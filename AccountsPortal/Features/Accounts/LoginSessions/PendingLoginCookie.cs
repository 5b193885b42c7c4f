namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>The cookie that binds a login session to the browser that passed the password step.</summary>
public static class PendingLoginCookie
{
    public const string Name = "AccountsPortal.PendingLogin";

    public static void Append(HttpContext context, StartedLogin login) =>
        context.Response.Cookies.Append(Name, login.BrowserSecret, new CookieOptions
        {
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            SameSite = SameSiteMode.Lax,
            IsEssential = true,
            Path = "/",
            Expires = login.ExpiresAt,
        });

    public static string? Read(HttpContext context) => context.Request.Cookies[Name];

    public static void Delete(HttpContext context) =>
        context.Response.Cookies.Delete(Name, new CookieOptions { Path = "/", Secure = context.Request.IsHttps, HttpOnly = true });
}
