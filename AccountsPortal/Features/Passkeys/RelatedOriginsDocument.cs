using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The related origins document of WebAuthn L3 §5.11.1 ("Using Web Authentication across related origins"):
/// <c>GET /.well-known/webauthn</c> answers <c>{"origins": [...]}</c> as <c>application/json</c>. A browser on an origin
/// that is neither the RP ID's domain nor under it fetches this document from <c>https://&lt;RP ID&gt;/.well-known/webauthn</c>
/// (§5.11.1.1, "Validating Related Origins") and lets that origin use the RP ID only when the document lists it.
/// <para>
/// It lists every origin that may use the RP ID — <c>Passkeys:Origins</c> first, then <c>Passkeys:RelatedOrigins</c>,
/// each once: the same list ceremonies accept (<see cref="PasskeyOptions.CeremonyOrigins"/>). Listing the portal's own
/// origins is harmless where they are under the RP ID and needed where they are not (a portal that moved to another
/// domain). Browsers read at most a few registrable domains ("labels", at least five) from it, in order. Without related
/// origins there is nothing to relate: 404. Publicly cacheable for <see cref="CacheLifetime"/>.
/// </para>
/// </summary>
public sealed class RelatedOriginsDocument(IOptions<PasskeyOptions> options)
{
    /// <summary>Where the document is served, on every host the portal answers.</summary>
    public const string Path = "/.well-known/webauthn";

    /// <summary>The media type the specification requires (§5.11.1.1 step 3).</summary>
    public const string ContentType = "application/json";

    /// <summary>How long browsers and caches may keep the document: five minutes, so a changed list is seen soon.</summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);

    private readonly byte[]? json = options.Value.RelatedOrigins.Count == 0
        ? null
        : System.Text.Encoding.UTF8.GetBytes(new JsonObject
        {
            ["origins"] = new JsonArray([.. options.Value.CeremonyOrigins.Select(origin => JsonValue.Create(origin))]),
        }.ToJsonString());

    /// <summary>
    /// The RP ID as a host that serves only this document: set when related origins are configured and no
    /// <c>Passkeys:Origins</c> entry has the RP ID as its host (the portal is served elsewhere, e.g. under it, or it
    /// moved away from it), so that browsers can fetch the document there. The portal's pages are not served on it.
    /// </summary>
    public static string? DocumentOnlyHostOf(PasskeyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.RelatedOrigins.Count > 0
            && !options.Origins.Any(origin => string.Equals(new Uri(origin).Host, options.RelyingPartyId, StringComparison.OrdinalIgnoreCase))
                ? options.RelyingPartyId
                : null;
    }

    /// <summary>The answer to <c>GET /.well-known/webauthn</c>: the document with its cache lifetime, or 404.</summary>
    public IResult Answer(HttpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (json is null)
        {
            return Results.NotFound();
        }

        response.Headers.CacheControl = string.Create(CultureInfo.InvariantCulture, $"public, max-age={(int)CacheLifetime.TotalSeconds}");
        return Results.Bytes(json, ContentType);
    }
}
