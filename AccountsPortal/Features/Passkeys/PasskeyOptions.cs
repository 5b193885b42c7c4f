namespace AccountsPortal.Features.Passkeys;

/// <summary>Relying party and limits for passkeys. Bound from the "Passkeys" configuration section.</summary>
public sealed class PasskeyOptions
{
    public const string SectionName = "Passkeys";

    /// <summary>The WebAuthn relying party id: the site's registrable domain, never taken from the Host header.</summary>
    public string RelyingPartyId { get; set; } = "localhost";

    public string RelyingPartyName { get; set; } = "AccountsPortal";

    /// <summary>Exact origins (scheme, host and port) that ceremonies may come from.</summary>
    public List<string> Origins { get; set; } = [];

    /// <summary>
    /// Whether people may sign in with a passkey alone (discoverable credential with user verification), on the login
    /// page ("Sign in with a passkey" and passkey autofill) and through <c>/api/v1/passkey-login</c>. On by default;
    /// the passkey as second factor after the password is unaffected.
    /// </summary>
    public bool PasskeySignIn { get; set; } = true;

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

    public IReadOnlyList<string> EffectiveAlgorithms => Algorithms.Count > 0 ? Algorithms : ["ES256", "EdDSA", "RS256"];
}
