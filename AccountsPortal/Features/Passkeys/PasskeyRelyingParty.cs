using System.Text;
using Fido2NetLib;
using Fido2NetLib.Objects;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>Turns <see cref="PasskeyOptions"/> into Fido2NetLib's settings and shapes.</summary>
public sealed class PasskeyRelyingParty(IOptions<PasskeyOptions> options)
{
    public static Fido2Configuration Configuration(PasskeyOptions options) => new()
    {
        RPID = options.RelyingPartyId,
        RPName = options.RelyingPartyName,
        // Fido2NetLib reduces the client data's origin to scheme://host:port before it compares; the exact check is
        // ClientCredentialJson.CheckClientData against CeremonyOrigins, which runs first.
        Origins = new HashSet<string>(options.CeremonyOrigins, StringComparer.Ordinal),
        Timeout = (uint)options.DialogTimeout.TotalMilliseconds,
        ChallengeSize = 32,
    };

    /// <summary>
    /// The origins a ceremony may come from (<see cref="PasskeyOptions.CeremonyOrigins"/>: <c>Passkeys:Origins</c> and
    /// <c>Passkeys:RelatedOrigins</c>), compared exactly (ordinal) with the client data's <c>origin</c>.
    /// </summary>
    public IReadOnlySet<string> CeremonyOrigins { get; } = new HashSet<string>(options.Value.CeremonyOrigins, StringComparer.Ordinal);

    /// <summary>The origins the portal's own pages are served from (<c>Passkeys:Origins</c>), compared exactly (ordinal).</summary>
    public IReadOnlySet<string> PortalOrigins { get; } = new HashSet<string>(options.Value.Origins, StringComparer.Ordinal);

    /// <summary>
    /// Whether <paramref name="origin"/> is written as a browser serialises an origin (HTML "ASCII
    /// serialization of an origin"): scheme://host[:port] with a lower-case host, no default port, and
    /// no user info, path, query or fragment. Only such a string can equal a client data <c>origin</c>.
    /// </summary>
    public static bool IsSerializedOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && uri.Scheme is "https" or "http"
        && string.Equals(origin, uri.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal)
        && uri.UserInfo.Length == 0;

    /// <summary>The WebAuthn user handle of an account: its id's bytes, which carry no personal data.</summary>
    public static byte[] UserHandleOf(string userId) => Encoding.UTF8.GetBytes(userId);

    public static PublicKeyCredentialDescriptor Descriptor(byte[] credentialId, string? transports) =>
        new(PublicKeyCredentialType.PublicKey, credentialId, ParseTransports(transports));

    public AuthenticatorSelection AuthenticatorSelection() => new()
    {
        ResidentKey = Parse<ResidentKeyRequirement>(options.Value.ResidentKey, "residentKey"),
        UserVerification = UserVerification(),
    };

    public UserVerificationRequirement UserVerification() =>
        Parse<UserVerificationRequirement>(options.Value.UserVerification, "userVerification");

    public AttestationConveyancePreference Attestation() =>
        Parse<AttestationConveyancePreference>(options.Value.Attestation, "attestation");

    public IReadOnlyList<PubKeyCredParam> Algorithms() =>
        [.. options.Value.EffectiveAlgorithms.Select(name => name.ToUpperInvariant() switch
        {
            "ES256" => PubKeyCredParam.ES256,
            "EDDSA" => PubKeyCredParam.Ed25519,
            "RS256" => PubKeyCredParam.RS256,
            "ES384" => PubKeyCredParam.ES384,
            "ES512" => PubKeyCredParam.ES512,
            "PS256" => PubKeyCredParam.PS256,
            _ => throw new InvalidOperationException($"Passkeys:Algorithms has an unknown algorithm '{name}'."),
        })];

    public static string TransportName(AuthenticatorTransport transport) => transport switch
    {
        AuthenticatorTransport.Usb => "usb",
        AuthenticatorTransport.Nfc => "nfc",
        AuthenticatorTransport.Ble => "ble",
        AuthenticatorTransport.Internal => "internal",
        AuthenticatorTransport.Hybrid => "hybrid",
        AuthenticatorTransport.SmartCard => "smart-card",
        _ => transport.ToString().ToLowerInvariant(),
    };

    private static AuthenticatorTransport[]? ParseTransports(string? transports) =>
        string.IsNullOrEmpty(transports)
            ? null
            : [.. transports.Split(',').Select(name => name switch
            {
                "usb" => AuthenticatorTransport.Usb,
                "nfc" => AuthenticatorTransport.Nfc,
                "ble" => AuthenticatorTransport.Ble,
                "internal" => AuthenticatorTransport.Internal,
                "hybrid" => AuthenticatorTransport.Hybrid,
                "smart-card" => AuthenticatorTransport.SmartCard,
                _ => (AuthenticatorTransport?)null,
            }).OfType<AuthenticatorTransport>()];

    private static T Parse<T>(string value, string setting)
        where T : struct, Enum =>
        Enum.TryParse<T>(value, ignoreCase: true, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Passkeys:{setting} has an unknown value '{value}'.");
}
