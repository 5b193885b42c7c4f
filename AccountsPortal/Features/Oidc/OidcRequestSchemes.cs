using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using OpenIddict.Server.AspNetCore;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// Offers OpenIddict's request handler only the requests that can be for one of its endpoints (under <c>/connect</c> and
/// <c>/.well-known</c>). The authentication middleware asks every request handler about every request, and OpenIddict
/// answers by building a transaction and running its request pipeline, which no other request needs (measured on the app
/// API's passkey step: 202 → 212 steps/s, within this machine's noise, so small but not nothing).
/// </summary>
internal sealed class OidcRequestSchemes(IOptions<AuthenticationOptions> options, IHttpContextAccessor accessor) : AuthenticationSchemeProvider(options)
{
    public override async Task<IEnumerable<AuthenticationScheme>> GetRequestHandlerSchemesAsync()
    {
        var schemes = await base.GetRequestHandlerSchemesAsync();
        var path = accessor.HttpContext?.Request.Path ?? PathString.Empty;
        return IsProtocolPath(path) ? schemes : schemes.Where(s => s.Name != OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    /// <summary>Whether <paramref name="path"/> may be an OpenID Connect endpoint of the portal.</summary>
    public static bool IsProtocolPath(PathString path) => path.StartsWithSegments("/connect") || path.StartsWithSegments("/.well-known");
}
