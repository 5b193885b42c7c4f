using System.Security.Cryptography;

namespace AccountsPortal.Components;

/// <summary>
/// Headers on every response: a Content Security Policy that lets only the portal's own scripts run (its
/// one inline script, Blazor's import map, carries a per-response nonce; never <c>unsafe-eval</c>), no
/// framing (the verify and recovery pages must not be clickjacked), no MIME sniffing, and no Referer,
/// since some addresses carry a login session id.
/// </summary>
internal static class SecurityHeaders
{
    private const string NonceKey = "AccountsPortal.CspNonce";

    /// <summary>
    /// The policy, given the response's script nonce. Styles may be inline (MudBlazor sets style attributes);
    /// images may be data: URIs (the TOTP QR code); <c>connect-src 'self'</c> covers the circuit's WebSocket.
    /// <c>base-uri 'self'</c> rather than <c>'none'</c>: Blazor resolves every route and asset against
    /// <c>&lt;base href="/"&gt;</c>, and <c>'self'</c> still refuses a base on another origin.
    /// </summary>
    public static string Policy(string nonce) =>
        $"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

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
            headers.ContentSecurityPolicy = Policy(nonce);
            await next(context);
        });
}
