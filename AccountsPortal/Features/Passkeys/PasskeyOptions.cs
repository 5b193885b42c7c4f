namespace AccountsPortal.Features.Passkeys;

/// <summary>Relying party and limits for passkeys. Bound from the "Passkeys" configuration section.</summary>
public sealed class PasskeyOptions
{
    public const string SectionName = "Passkeys";

    /// <summary>The WebAuthn relying party id: the site's registrable domain, never taken from the Host header.</summary>
    public string RelyingPartyId { get; set; } = "localhost";

    public string RelyingPartyName { get; set; } = "AccountsPortal";

    /// <summary>
    /// The exact origins (scheme, host and port) the portal is served from: ceremonies may come from them, its Blazor hub
    /// takes browsers only from them, and the first builds links. Written as browsers serialise an origin; checked at start.
    /// </summary>
    public List<string> Origins { get; set; } = [];

    /// <summary>
    /// Whether people may sign in with a passkey alone (discoverable credential with user verification), on the login
    /// page ("Sign in with a passkey" and passkey autofill) and through <c>/api/v1/passkey-login</c>. On by default;
    /// the passkey as second factor after the password is unaffected.
    /// </summary>
    public bool PasskeySignIn { get; set; } = true;

    /// <summary>
    /// Other origins that may run ceremonies for <see cref="RelyingPartyId"/> although they are not that domain or under
    /// it (WebAuthn L3 §5.11.1, "Using Web Authentication across related origins"), e.g. a site that moved to another
    /// domain and keeps its passkeys' RP ID. Written and checked like <see cref="Origins"/>; empty by default. Browsers
    /// learn them from <c>https://&lt;RelyingPartyId&gt;/.well-known/webauthn</c> (<see cref="RelatedOriginsDocument"/>) and
    /// honour at most a few registrable domains ("labels") from it: at least five, more only by the browser's own policy.
    /// The portal's own pages are not served to them (host filtering and the Blazor hub keep to <see cref="Origins"/>).
    /// </summary>
    public List<string> RelatedOrigins { get; set; } = [];

    public int MaxPasskeysPerUser { get; set; } = 10;

    public int MaxNameLength { get; set; } = 64;

    public TimeSpan RegistrationChallengeLifetime { get; set; } = TimeSpan.FromMinutes(5);

    public TimeSpan LoginChallengeLifetime { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>How long the browser's passkey dialog stays open before it gives up.</summary>
    public TimeSpan DialogTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>COSE algorithms offered at registration, in order of preference.</summary>
    public List<string> Algorithms { get; set; } = [];

    /// <summary>"none", "indirect", "direct" or "enterprise".</summary>
    public string Attestation { get; set; } = "none";

    /// <summary>"required", "preferred" or "discouraged".</summary>
    public string UserVerification { get; set; } = "preferred";

    /// <summary>"required", "preferred" or "discouraged".</summary>
    public string ResidentKey { get; set; } = "preferred";

    /// <summary>The largest credential JSON accepted from a browser or app.</summary>
    public int MaxCredentialJsonLength { get; set; } = 16 * 1024;

    /// <summary>Every origin a ceremony's client data may name, compared exactly: <see cref="Origins"/>, then <see cref="RelatedOrigins"/>, each once.</summary>
    public IReadOnlyList<string> CeremonyOrigins => [.. Origins.Concat(RelatedOrigins).Distinct(StringComparer.Ordinal)];

    public IReadOnlyList<string> EffectiveAlgorithms => Algorithms.Count > 0 ? Algorithms : ["ES256", "EdDSA", "RS256"];
}
