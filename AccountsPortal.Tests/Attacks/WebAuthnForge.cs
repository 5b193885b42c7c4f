using System.Buffers.Binary;
using System.Buffers.Text;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Builds WebAuthn answers byte by byte, for the attacks the <see cref="SoftwareAuthenticator"/> cannot express:
/// any flags, counters, client data or CBOR, signed with a credential's real key so that only the part under
/// attack is wrong.
/// </summary>
public static class WebAuthnForge
{
    public const byte UserPresent = 0x01;
    public const byte UserVerified = 0x04;
    public const byte BackupEligible = 0x08;
    public const byte BackedUp = 0x10;
    public const byte AttestedCredentialData = 0x40;
    public const byte ExtensionData = 0x80;

    public static byte[] RpIdHash(string rpId) => SHA256.HashData(Encoding.UTF8.GetBytes(rpId));

    /// <summary>rpIdHash | flags | signCount, then <paramref name="rest"/> (attested credential data, extensions).</summary>
    public static byte[] AuthenticatorData(byte flags, uint signCount, string rpId = "localhost", byte[]? rest = null)
    {
        var count = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(count, signCount);
        return [.. RpIdHash(rpId), flags, .. count, .. rest ?? []];
    }

    /// <summary>Client data as a browser writes it, for <paramref name="challenge"/> (base64url) from <paramref name="origin"/>.</summary>
    public static byte[] ClientData(string challenge, string origin, string type = "webauthn.get") =>
        JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["type"] = type, ["challenge"] = challenge, ["origin"] = origin, ["crossOrigin"] = false });

    public static string ChallengeOf(string optionsJson) => JsonNode.Parse(optionsJson)!["challenge"]!.GetValue<string>();

    /// <summary>An assertion over exactly these bytes, signed by <paramref name="credential"/>'s key.</summary>
    public static string Assertion(StoredCredential credential, byte[] authenticatorData, byte[] clientData, byte[]? userHandle, byte[]? rawId = null)
    {
        var signature = credential.Key.SignData([.. authenticatorData, .. SHA256.HashData(clientData)], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var id = Base64Url.EncodeToString(rawId ?? credential.Id);
        return new JsonObject
        {
            ["id"] = id,
            ["rawId"] = id,
            ["type"] = "public-key",
            ["clientExtensionResults"] = new JsonObject(),
            ["response"] = new JsonObject
            {
                ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
                ["authenticatorData"] = Base64Url.EncodeToString(authenticatorData),
                ["signature"] = Base64Url.EncodeToString(signature),
                ["userHandle"] = userHandle is null ? null : Base64Url.EncodeToString(userHandle),
            },
        }.ToJsonString();
    }

    /// <summary>A COSE_Key map for an EC2 key: kty 2, the given alg and curve, x and y.</summary>
    public static byte[] CoseEc2(ECDsa key, int alg = -7, int crv = 1)
    {
        var parameters = key.ExportParameters(includePrivateParameters: false);
        return Cbor(writer =>
        {
            writer.WriteStartMap(5);
            writer.WriteInt32(1);
            writer.WriteInt32(2);
            writer.WriteInt32(3);
            writer.WriteInt32(alg);
            writer.WriteInt32(-1);
            writer.WriteInt32(crv);
            writer.WriteInt32(-2);
            writer.WriteByteString(parameters.Q.X!);
            writer.WriteInt32(-3);
            writer.WriteByteString(parameters.Q.Y!);
            writer.WriteEndMap();
        });
    }

    /// <summary>CBOR as <paramref name="write"/> writes it (lax: any shape, any order).</summary>
    public static byte[] Cbor(Action<CborWriter> write)
    {
        var writer = new CborWriter(CborConformanceMode.Lax, allowMultipleRootLevelValues: true);
        write(writer);
        return writer.Encode();
    }

    /// <summary>Attested credential data: AAGUID (zero), credential id length and id, the COSE public key.</summary>
    public static byte[] AttestedData(byte[] credentialId, byte[] coseKey)
    {
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)credentialId.Length);
        return [.. new byte[16], .. length, .. credentialId, .. coseKey];
    }

    /// <summary>A "none" attestation object carrying <paramref name="authenticatorData"/>.</summary>
    public static byte[] NoneAttestationObject(byte[] authenticatorData) => Cbor(writer =>
    {
        writer.WriteStartMap(3);
        writer.WriteTextString("fmt");
        writer.WriteTextString("none");
        writer.WriteTextString("attStmt");
        writer.WriteStartMap(0);
        writer.WriteEndMap();
        writer.WriteTextString("authData");
        writer.WriteByteString(authenticatorData);
        writer.WriteEndMap();
    });

    /// <summary>A registration answer (the <c>toJSON()</c> shape) with exactly this attestation object and client data.</summary>
    public static string Attestation(byte[] rawId, byte[] attestationObject, byte[] clientData) => new JsonObject
    {
        ["id"] = Base64Url.EncodeToString(rawId),
        ["rawId"] = Base64Url.EncodeToString(rawId),
        ["type"] = "public-key",
        ["clientExtensionResults"] = new JsonObject(),
        ["response"] = new JsonObject
        {
            ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
            ["attestationObject"] = Base64Url.EncodeToString(attestationObject),
            ["transports"] = new JsonArray("internal"),
        },
    }.ToJsonString();

    /// <summary>
    /// A registration answer to <paramref name="creationOptionsJson"/> for a new credential with the given id and COSE
    /// key (by default a fresh ES256 key), as a browser would send it; <paramref name="mutate"/> may change the
    /// attestation object's bytes before they are encoded.
    /// </summary>
    public static string Registration(
        string creationOptionsJson, string origin, byte[]? credentialId = null, byte[]? coseKey = null, byte flags = UserPresent | UserVerified | AttestedCredentialData,
        Func<byte[], byte[]>? mutate = null, byte[]? rawId = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = credentialId ?? RandomNumberGenerator.GetBytes(16);
        var authenticatorData = AuthenticatorData(flags, 0, rest: AttestedData(id, coseKey ?? CoseEc2(key)));
        var attestationObject = NoneAttestationObject(authenticatorData);
        return Attestation(rawId ?? id, mutate?.Invoke(attestationObject) ?? attestationObject, ClientData(ChallengeOf(creationOptionsJson), origin, "webauthn.create"));
    }
}
