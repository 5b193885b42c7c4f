namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>The cookie that binds a login session to the browser that passed the password step.</summary>
public static class PendingLoginCookie
{
    public const string Name = "AccountsPortal.PendingLogin";

    public static void Append(HttpContext context, StartedLogin login) => SecretCookies.Append(context, Name, login.BrowserSecret, login.ExpiresAt);

    public static string? Read(HttpContext context) => SecretCookies.Read(context, Name);

    public static void Delete(HttpContext context) => SecretCookies.Delete(context, Name);
}
