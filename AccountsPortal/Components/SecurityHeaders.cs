namespace AccountsPortal.Components;

/// <summary>
/// Headers on every response: no framing (the verify and recovery pages must not be clickjacked),
/// no MIME sniffing, and no Referer, since some addresses carry a login session id.
/// </summary>
internal static class SecurityHeaders
{
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.ContentSecurityPolicy = "frame-ancestors 'none'";
            await next(context);
        });
}
