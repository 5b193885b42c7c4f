using AccountsPortal.Features.Passkeys;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Components;

/// <summary>
/// What the portal answers to, and what browsers may keep (OWASP ASVS 5.0 V3):
/// <list type="bullet">
/// <item>Host: unless <c>AllowedHosts</c> names hosts, only the hosts of <c>Passkeys:Origins</c> are served
/// (links, redirects and emails are built from configuration anyway, never from the Host header); with
/// <c>Passkeys:RelatedOrigins</c>, the RP ID's host too when it is none of them, for the related origins document only
/// (<see cref="RelatedOriginsDocument.DocumentOnlyHostOf"/>): anything else asked of that host is 404.</item>
/// <item>The Blazor hub (<c>/_blazor</c>): a browser request whose <c>Origin</c> is not one of <c>Passkeys:Origins</c> is
/// refused (related origins included: they may run ceremonies, not the portal's pages), so a sibling site cannot drive
/// the owner's pages with the owner's cookie.</item>
/// <item>Pages and API answers are <c>Cache-Control: no-store</c> (recovery keys, TOTP secrets, QR codes,
/// tokens and codes must not stay in a cache); fingerprinted static assets keep their own caching.</item>
/// <item>HSTS on https responses outside Development.</item>
/// </list>
/// </summary>
internal static class WebSurface
{
    public const string HubPath = "/_blazor";

    public static WebApplicationBuilder AddWebSurface(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<HostFilteringOptions>().PostConfigure<IOptions<PasskeyOptions>>((hosts, passkeys) =>
        {
            if (hosts.AllowedHosts.Count == 0 || hosts.AllowedHosts.All(h => h == "*"))
            {
                hosts.AllowedHosts = [.. passkeys.Value.Origins.Select(o => new Uri(o).Host)
                    .Append(RelatedOriginsDocument.DocumentOnlyHostOf(passkeys.Value)).OfType<string>()
                    .Distinct(StringComparer.OrdinalIgnoreCase)];
            }
        });
        builder.Services.AddHsts(hsts => hsts.MaxAge = TimeSpan.FromDays(365));
        return builder;
    }

    public static WebApplication UseWebSurface(this WebApplication app)
    {
        if (!app.Environment.IsDevelopment())
        {
            app.UseHsts();
        }

        var origins = app.Services.GetRequiredService<PasskeyRelyingParty>().PortalOrigins;
        var documentOnlyHost = RelatedOriginsDocument.DocumentOnlyHostOf(app.Services.GetRequiredService<IOptions<PasskeyOptions>>().Value);
        app.Use(async (context, next) =>
        {
            if (documentOnlyHost is not null
                && string.Equals(context.Request.Host.Host, documentOnlyHost, StringComparison.OrdinalIgnoreCase)
                && !context.Request.Path.Equals(RelatedOriginsDocument.Path, StringComparison.OrdinalIgnoreCase))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            if (context.Request.Path.StartsWithSegments(HubPath)
                && context.Request.Headers.Origin is { Count: > 0 } origin
                && !origins.Contains(origin.ToString()))
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }

            context.Response.OnStarting(() =>
            {
                var response = context.Response;
                var type = response.ContentType ?? "";
                if (!response.Headers.ContainsKey("Cache-Control")
                    && (type.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) || type.Contains("json", StringComparison.OrdinalIgnoreCase)
                        || context.Request.Path.StartsWithSegments("/api")))
                {
                    response.Headers.CacheControl = "no-store";
                }

                return Task.CompletedTask;
            });
            await next(context);
        });
        return app;
    }
}
