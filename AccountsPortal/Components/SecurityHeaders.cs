using System.Security.Cryptography;

namespace AccountsPortal.Components;

/// <summary>
/// Headers on every response: a Content Security Policy that lets only the portal's own scripts run (its
/// one inline script, Blazor's import map, carries a per-response nonce; never <c>unsafe-eval</c>), no
/// framing (the verify and recovery pages must not be clickjacked), no MIME sniffing, and no Referer,
/// since some addresses carry a login session id.
/// </summary>
public static class SecurityHeaders
{
    private const string NonceKey = "AccountsPortal.CspNonce";

    /// <summary>
    /// The policy, given the response's script nonce. Styles may be inline (MudBlazor sets style attributes);
    /// images may be data: URIs (the TOTP QR code); <c>connect-src 'self'</c> covers the circuit's WebSocket.
    /// <c>base-uri 'self'</c> rather than <c>'none'</c>: Blazor resolves every route and asset against
    /// <c>&lt;base href="/"&gt;</c>, and <c>'self'</c> still refuses a base on another origin.
    /// </summary>
    /// <param name="formTargets">
    /// Where else a form may lead, space-separated CSP sources: the OpenID Connect clients' redirect URIs, which the
    /// login form's redirects end at when an app asked for the sign-in (browsers hold redirects of a form to form-action).
    /// </param>
    public static string Policy(string nonce, string formTargets = "") =>
        $"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + $"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'{Sources(formTargets)}; frame-ancestors 'none'";

    /// <summary>
    /// The policy of an OpenID Connect protocol response (the authorization and end-session endpoints): OpenIddict's
    /// form_post page posts the result to the client with one inline script of its own, and nothing else runs there.
    /// </summary>
    public static string ProtocolPolicy(string formTargets) =>
        $"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'{Sources(formTargets)}; frame-ancestors 'none'";

    private static string Sources(string formTargets) => string.IsNullOrEmpty(formTargets) ? "" : " " + formTargets;

    /// <summary>The nonce of this response's policy, for the one inline script the page renders.</summary>
    public static string Nonce(HttpContext context) => context.Items[NonceKey] as string ?? "";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            context.Items[NonceKey] = nonce;
            var headers = context.Response.Headers;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            var targets = context.RequestServices.GetService<IFormActionTargets>();
            headers.ContentSecurityPolicy = targets?.IsProtocolEndpoint(context.Request.Path) == true
                ? ProtocolPolicy(targets.Sources)
                : Policy(nonce, targets?.Sources ?? "");
            await next(context);
        });
}

/// <summary>Other origins a form of the portal may lead to, and the protocol endpoints whose pages post to them.</summary>
public interface IFormActionTargets
{
    /// <summary>Space-separated CSP source expressions (origins or schemes); empty for none.</summary>
    string Sources { get; }

    /// <summary>Whether the path is an endpoint whose response may be a self-posting form to one of <see cref="Sources"/>.</summary>
    bool IsProtocolEndpoint(PathString path);
}
