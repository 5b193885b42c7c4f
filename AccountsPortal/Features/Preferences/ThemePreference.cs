using AccountsPortal.Components;

namespace AccountsPortal.Features.Preferences;

/// <summary>
/// Light or dark theme, remembered in a cookie. The toggle is a plain form post so that it works
/// the same on static and interactive pages, and the cookie is set by HTTP, never by a circuit.
/// </summary>
public static class ThemePreference
{
    public const string CookieName = "AccountsPortal.Theme";
    public const string TogglePath = "/preferences/theme";

    public static bool IsDark(HttpContext? context) =>
        context?.Request.Cookies[CookieName] == "dark";

    public static IEndpointRouteBuilder MapPreferences(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(TogglePath, async (HttpContext context) =>
        {
            string? returnUrl = (await context.Request.ReadFormAsync())["returnUrl"];
            var next = IsDark(context) ? "light" : "dark";
            context.Response.Cookies.Append(CookieName, next, new CookieOptions
            {
                HttpOnly = true,
                Secure = context.Request.IsHttps,
                SameSite = SameSiteMode.Lax,
                IsEssential = true,
                MaxAge = TimeSpan.FromDays(365),
            });
            return Results.LocalRedirect(Accounts.LocalReturnUrl.IsLocal(returnUrl) ? returnUrl! : "/");
        }).RequireAntiforgeryToken();
        return endpoints;
    }
}
