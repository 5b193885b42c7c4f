namespace AccountsPortal.Features.Accounts;

/// <summary>
/// The portal's cookies that carry a secret (pending login, approval, email code, device): one set of
/// attributes for all, so a change to them (Secure, SameSite, a prefix) is made once. HttpOnly, Secure
/// whenever the request is https, SameSite=Lax (they must survive a top-level navigation back from an
/// email link or an app), path "/".
/// </summary>
public static class SecretCookies
{
    public static void Append(HttpContext context, string name, string value, DateTimeOffset expiresAt) =>
        context.Response.Cookies.Append(name, value, new CookieOptions
        {
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            SameSite = SameSiteMode.Lax,
            IsEssential = true,
            Path = "/",
            Expires = expiresAt,
        });

    public static void Delete(HttpContext context, string name) =>
        context.Response.Cookies.Delete(name, new CookieOptions { Path = "/", Secure = context.Request.IsHttps, HttpOnly = true });
}
