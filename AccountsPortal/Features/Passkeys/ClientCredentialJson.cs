using System.Formats.Cbor;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fido2NetLib;
using Fido2NetLib.Objects;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// Reads the credential JSON a browser (<c>PublicKeyCredential.toJSON()</c>) or an app sends back, the
/// way WebAuthn L3 asks of a relying party, before Fido2NetLib sees it:
/// <list type="bullet">
/// <item>values of DOMString enumerations the portal does not know are ignored, not fatal (L3 §2.1.1):
/// unknown <c>response.transports</c> entries ("cable", "future-transport-x") are dropped;</item>
/// <item>an empty <c>response.userHandle</c> (some Android clients send "" for none) is absent (L3 §5.2.2);</item>
/// <item>extension results the portal did not ask for are dropped (L3 §9: the relying party processes only
/// the extensions it requested): <c>credProps</c> at registration, none at login.</item>
/// </list>
/// Everything else is left to Fido2NetLib and the checks in <see cref="PasskeyLogin"/> and <see cref="PasskeyRegistration"/>.
/// </summary>
internal static class ClientCredentialJson
{
    private static readonly HashSet<string> KnownTransports =
        [.. Enum.GetValues<AuthenticatorTransport>().Select(PasskeyRelyingParty.TransportName)];

    /// <summary>An attestation (registration) answer. Throws <see cref="JsonException"/> (or a sibling of
    /// <see cref="WebAuthnFailures.IsMalformedInput"/>) for input that is not a credential.</summary>
    public static AuthenticatorAttestationRawResponse? ReadAttestation(string json) =>
        Read<AuthenticatorAttestationRawResponse>(json, requestedExtensions: ["credProps"]);

    /// <summary>An assertion (login) answer; as <see cref="ReadAttestation"/>.</summary>
    public static AuthenticatorAssertionRawResponse? ReadAssertion(string json) =>
        Read<AuthenticatorAssertionRawResponse>(json, requestedExtensions: []);

    private static T? Read<T>(string json, IReadOnlyCollection<string> requestedExtensions)
        where T : class
    {
        if (JsonNode.Parse(json) is not JsonObject credential)
        {
            throw new JsonException("A credential is a JSON object.");
        }

        if (credential["response"] is JsonObject response)
        {
            if (response["transports"] is JsonArray transports)
            {
                response["transports"] = new JsonArray([.. transports
                    .Where(t => t is JsonValue value && value.TryGetValue(out string? name) && KnownTransports.Contains(name))
                    .Select(t => t!.DeepClone())]);
            }
            else if (response.ContainsKey("transports"))
            {
                response["transports"] = new JsonArray();
            }

            if (response["userHandle"] is JsonValue handle && handle.TryGetValue(out string? text) && text.Length == 0)
            {
                response.Remove("userHandle");
            }
        }

        var extensions = new JsonObject();
        if (credential["clientExtensionResults"] is JsonObject results)
        {
            foreach (var name in requestedExtensions)
            {
                if (results[name] is JsonObject result)
                {
                    extensions[name] = result.DeepClone();
                }
            }
        }

        credential["clientExtensionResults"] = extensions;
        return credential.Deserialize<T>();
    }

    /// <summary>
    /// Whether <paramref name="cbor"/> goes on after its first CBOR data item. An attestation object is exactly one
    /// CBOR map (WebAuthn L3 §6.5.4); Fido2NetLib reads the first item and ignores whatever follows it.
    /// </summary>
    /// <returns>False for a single item, and for input that is not even one (Fido2NetLib refuses that itself).</returns>
    public static bool HasTrailingBytes(byte[]? cbor)
    {
        if (cbor is not { Length: > 0 })
        {
            return false;
        }

        try
        {
            var reader = new CborReader(cbor, CborConformanceMode.Lax);
            reader.SkipValue();
            return reader.BytesRemaining > 0;
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception))
        {
            return false;
        }
    }

    /// <summary>
    /// The client data checks Fido2NetLib leaves loose (WebAuthn L3 §7.1 steps 9–10, §7.2 steps 13–14):
    /// <c>origin</c> must equal one configured origin exactly, as the serialised origin a browser sends
    /// (no path, query, user info or other case); <c>crossOrigin</c>, when present, must be false; and
    /// <c>topOrigin</c> must be absent (the portal is never embedded in another site's frame).
    /// </summary>
    /// <returns>Null when the client data passes; otherwise the message to show.</returns>
    public static string? CheckClientData(byte[]? clientDataJson, IReadOnlySet<string> origins)
    {
        // Client data that is not what a browser writes is not signed by this passkey's ceremony: "not verified", as Fido2NetLib says.
        if (clientDataJson is null)
        {
            return PasskeyMessages.NotVerified;
        }

        try
        {
            using var clientData = JsonDocument.Parse(clientDataJson);
            var root = clientData.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("origin", out var origin) || origin.ValueKind != JsonValueKind.String)
            {
                return PasskeyMessages.NotVerified;
            }

            if (!origins.Contains(origin.GetString()!))
            {
                return PasskeyMessages.WrongOrigin;
            }

            if (root.TryGetProperty("crossOrigin", out var crossOrigin) && crossOrigin.ValueKind != JsonValueKind.False)
            {
                return PasskeyMessages.WrongOrigin;
            }

            return root.TryGetProperty("topOrigin", out _) ? PasskeyMessages.WrongOrigin : null;
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string no .NET string can hold, such as a lone surrogate ("\ud800").
            return PasskeyMessages.NotVerified;
        }
    }
}
