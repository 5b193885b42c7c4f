using AccountsPortal.Components;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Apps;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.Email;
using AccountsPortal.Features.Health;
using AccountsPortal.Features.Notifications;
using AccountsPortal.Features.Oidc;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.Preferences;
using AccountsPortal.Features.TwoFactor;
using MudBlazor.Services;

namespace AccountsPortal;

/// <summary>The table of contents of the portal: every feature adds its services and maps its endpoints here.</summary>
public static class PortalExtensions
{
    public static WebApplicationBuilder AddPortal(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        // SecurityHeaders sends X-Frame-Options: DENY on every response; antiforgery would add SAMEORIGIN beside it.
        builder.Services.AddAntiforgery(antiforgery =>
        {
            antiforgery.SuppressXFrameOptionsHeader = true;
            // Secure whenever the request is https (the default would send it over plain http too).
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });

        builder.AddPortalData();
        builder.AddReverseProxySupport();
        builder.AddWebSurface();
        builder.AddActivity();
        builder.AddEmail();
        builder.AddNotifications();
        builder.AddAccounts();
        builder.AddPasskeys();
        builder.AddTwoFactor();
        builder.AddConfirmation();
        builder.AddApps();
        builder.AddOidc();
        builder.AddHealth();
        return builder;
    }

    public static WebApplication MapPortal(this WebApplication app)
    {
        app.UseReverseProxySupport();
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/Error", createScopeForErrors: true);
        }

        app.UseDatabaseFailurePages();
        app.UseSecurityHeaders();
        app.UseWebSurface();

        // People get the portal's pages for errors; the JSON API gets problem details.
        app.UseWhen(context => !IsApi(context), ui => ui.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
        app.UseWhen(IsApi, api => api.UseStatusCodePages());
        app.UseOidcProtocolErrors();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseAntiforgery();

        app.MapStaticAssets();
        // SecurityHeaders already forbids all framing; Blazor would add a second, weaker frame-ancestors 'self'.
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode(server => server.ContentSecurityFrameAncestorsPolicy = null);
        app.MapAccounts();
        app.MapPasskeys();
        app.MapPreferences();
        app.MapHealth();
        app.MapApps();
        app.MapOidc();
        return app;
    }

    // The login page's passkey sign-in posts are JSON endpoints too: a wrong content type or an oversized body gets its
    // own status (415, 413), not the not-found page.
    private static bool IsApi(HttpContext context) =>
        context.Request.Path.StartsWithSegments("/api") || context.Request.Path.StartsWithSegments(Features.Accounts.SignIn.PasskeySignInEndpoints.SignInPath)
        || context.Request.Path.StartsWithSegments("/connect") || context.Request.Path.StartsWithSegments("/.well-known");
}
