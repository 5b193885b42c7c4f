namespace AccountsPortal.Features.Accounts;

/// <summary>
/// The portal's cookies that carry a secret (pending login, approval, email code, device): one set of
/// attributes for all, so a change to them is made once. HttpOnly, SameSite=Lax (they must survive a
/// top-level navigation back from an email link or an app), path "/"; under https also Secure and named with
/// the <c>__Host-</c> prefix, so no sibling subdomain or plain-http page can set or overwrite them.
/// </summary>
public static class SecretCookies
{
    public const string HostPrefix = "__Host-";

    /// <summary>The name the cookie has on this request: prefixed with <see cref="HostPrefix"/> under https.</summary>
    public static string NameFor(HttpContext context, string name) => context.Request.IsHttps ? HostPrefix + name : name;

    public static string? Read(HttpContext context, string name) => context.Request.Cookies[NameFor(context, name)];

    public static void Append(HttpContext context, string name, string value, DateTimeOffset expiresAt) =>
        context.Response.Cookies.Append(NameFor(context, name), value, new CookieOptions
        {
            HttpOnly = true,
            Secure = context.Request.IsHttps,
            SameSite = SameSiteMode.Lax,
            IsEssential = true,
            Path = "/",
            Expires = expiresAt,
        });

    public static void Delete(HttpContext context, string name) =>
        context.Response.Cookies.Delete(NameFor(context, name), new CookieOptions { Path = "/", Secure = context.Request.IsHttps, HttpOnly = true });
}
