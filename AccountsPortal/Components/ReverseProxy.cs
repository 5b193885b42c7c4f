using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace AccountsPortal.Components;

/// <summary>
/// Behind a TLS-terminating proxy (nginx, Caddy), trusts its X-Forwarded-For and X-Forwarded-Proto,
/// so cookies are marked Secure and per-IP limits see the client. Off unless "ReverseProxy:Enabled";
/// loopback proxies are trusted, others only when listed in "ReverseProxy:KnownProxies".
/// </summary>
internal static class ReverseProxy
{
    public const string SectionName = "ReverseProxy";

    public static WebApplicationBuilder AddReverseProxySupport(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(SectionName);
        builder.Services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            foreach (var proxy in section.GetSection("KnownProxies").Get<string[]>() ?? [])
            {
                options.KnownProxies.Add(IPAddress.Parse(proxy));
            }
        });
        return builder;
    }

    public static WebApplication UseReverseProxySupport(this WebApplication app)
    {
        if (app.Configuration.GetValue<bool>($"{SectionName}:Enabled"))
        {
            app.UseForwardedHeaders();
        }

        return app;
    }
}
