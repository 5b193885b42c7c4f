using System.Buffers.Binary;
using System.Buffers.Text;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A WebAuthn authenticator in software for API tests without a browser: real ECDSA P-256 keys, real
/// CBOR, and JSON shaped like the browser's <c>PublicKeyCredential.toJSON()</c>. Every field a test
/// may want to get wrong can be overridden.
/// </summary>
public sealed class SoftwareAuthenticator(string rpId, string origin) : IDisposable
{
    private const byte UserPresentFlag = 0x01;
    private const byte UserVerifiedFlag = 0x04;
    private const byte BackupEligibleFlag = 0x08;
    private const byte BackedUpFlag = 0x10;
    private const byte AttestedCredentialDataFlag = 0x40;

    private readonly List<StoredCredential> credentials = [];

    public Guid Aaguid { get; set; } = Guid.Empty;

    public bool UserVerified { get; set; } = true;

    /// <summary>Whether new credentials are synced (backup eligible and backed up), like a password manager's.</summary>
    public bool Synced { get; set; }

    /// <summary>Whether assertions carry a counter; many synced passkeys always report 0.</summary>
    public bool CountsSignatures { get; set; } = true;

    public IReadOnlyList<StoredCredential> Credentials => credentials;

    /// <summary>Answers <c>navigator.credentials.create()</c> for options JSON as the server sent it.</summary>
    public string CreateCredential(string creationOptionsJson, RegistrationOverrides? overrides = null)
    {
        overrides ??= new RegistrationOverrides();
        var options = JsonNode.Parse(creationOptionsJson)!;
        var challenge = options["challenge"]!.GetValue<string>();
        var userHandle = Base64Url.DecodeFromChars(options["user"]!["id"]!.GetValue<string>());
        var excluded = (options["excludeCredentials"]?.AsArray() ?? [])
            .Select(descriptor => Base64Url.DecodeFromChars(descriptor!["id"]!.GetValue<string>()))
            .ToList();
        if (overrides.CredentialId is null && credentials.Any(c => excluded.Any(id => id.AsSpan().SequenceEqual(c.Id))))
        {
            // What a real authenticator does: the browser reports InvalidStateError.
            throw new InvalidOperationException("This authenticator already holds an excluded credential.");
        }

        var credential = new StoredCredential(
            overrides.CredentialId ?? RandomNumberGenerator.GetBytes(16),
            ECDsa.Create(ECCurve.NamedCurves.nistP256),
            userHandle,
            BackupEligible: overrides.BackupEligible ?? Synced);
        credentials.Add(credential);

        var flags = (byte)(AttestedCredentialDataFlag
            | (overrides.UserPresent ?? true ? UserPresentFlag : 0)
            | (UserVerified ? UserVerifiedFlag : 0)
            | (credential.BackupEligible ? BackupEligibleFlag : 0)
            | (overrides.BackedUp ?? (credential.BackupEligible && Synced) ? BackedUpFlag : 0));
        var authenticatorData = Concat(
            SHA256.HashData(Encoding.UTF8.GetBytes(overrides.RpId ?? rpId)),
            [flags],
            BigEndian(0),
            Aaguid.ToByteArray(bigEndian: true),
            BigEndian16((ushort)credential.Id.Length),
            credential.Id,
            CoseKey(credential.Key));

        var attestation = new CborWriter(CborConformanceMode.Ctap2Canonical);
        attestation.WriteStartMap(3);
        attestation.WriteTextString("fmt");
        attestation.WriteTextString("none");
        attestation.WriteTextString("attStmt");
        attestation.WriteStartMap(0);
        attestation.WriteEndMap();
        attestation.WriteTextString("authData");
        attestation.WriteByteString(authenticatorData);
        attestation.WriteEndMap();

        var clientData = ClientData(overrides.Type ?? "webauthn.create", overrides.Challenge ?? challenge, overrides.Origin ?? origin, overrides.ClientDataMembers);
        return Serialize(overrides, new JsonObject
        {
            ["id"] = Base64Url.EncodeToString(credential.Id),
            ["rawId"] = Base64Url.EncodeToString(credential.Id),
            ["type"] = "public-key",
            ["authenticatorAttachment"] = "platform",
            ["clientExtensionResults"] = new JsonObject(),
            ["response"] = new JsonObject
            {
                ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
                ["attestationObject"] = Base64Url.EncodeToString(attestation.Encode()),
                ["transports"] = new JsonArray([.. (overrides.Transports ?? ["internal", "hybrid"]).Select(t => JsonValue.Create(t))]),
            },
        });
    }

    /// <summary>Answers <c>navigator.credentials.get()</c> with a stored credential the options allow.</summary>
    public string GetAssertion(string requestOptionsJson, AssertionOverrides? overrides = null)
    {
        overrides ??= new AssertionOverrides();
        var options = JsonNode.Parse(requestOptionsJson)!;
        var challenge = options["challenge"]!.GetValue<string>();
        var allowed = (options["allowCredentials"]?.AsArray() ?? [])
            .Select(descriptor => Base64Url.DecodeFromChars(descriptor!["id"]!.GetValue<string>()))
            .ToList();
        var credential = overrides.Credential
            ?? credentials.FirstOrDefault(c => allowed.Count == 0 || allowed.Any(id => id.AsSpan().SequenceEqual(c.Id)))
            ?? throw new InvalidOperationException("No credential on this authenticator is allowed (the browser reports NotAllowedError).");

        if (CountsSignatures)
        {
            credential.SignCount++;
        }

        var backupEligible = overrides.BackupEligible ?? credential.BackupEligible;
        var flags = (byte)((overrides.UserPresent ?? true ? UserPresentFlag : 0)
            | (overrides.UserVerified ?? UserVerified ? UserVerifiedFlag : 0)
            | (backupEligible ? BackupEligibleFlag : 0)
            | (overrides.BackedUp ?? (backupEligible && Synced) ? BackedUpFlag : 0));
        var authenticatorData = Concat(
            SHA256.HashData(Encoding.UTF8.GetBytes(overrides.RpId ?? rpId)),
            [flags],
            BigEndian(overrides.SignCount ?? credential.SignCount));
        var type = overrides.Type ?? "webauthn.get";
        var signedChallenge = overrides.Challenge ?? challenge;
        var signedOrigin = overrides.Origin ?? origin;
        var clientData = ClientData(type, signedChallenge, signedOrigin, overrides.ClientDataMembers);
        var signedClientData = overrides.SignedClientData switch
        {
            ClientDataAlteration.None => clientData,
            ClientDataAlteration.OneChallengeByte => ClientData(type, WithOneByteChanged(signedChallenge), signedOrigin, overrides.ClientDataMembers),
            ClientDataAlteration.OtherType => ClientData("webauthn.create", signedChallenge, signedOrigin, overrides.ClientDataMembers),
            ClientDataAlteration.OtherOrigin => ClientData(type, signedChallenge, "https://evil.example", overrides.ClientDataMembers),
            _ => throw new ArgumentOutOfRangeException(nameof(overrides)),
        };
        var signature = credential.Key.SignData(
            Concat(authenticatorData, SHA256.HashData(signedClientData)), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        if (overrides.TamperSignature)
        {
            signature[^1] ^= 0x01;
        }

        if (overrides.TamperAuthenticatorData)
        {
            authenticatorData[^1] ^= 0x01;
        }

        if (overrides.TamperClientData)
        {
            clientData[^2] ^= 0x01;
        }

        var userHandle = overrides.OmitUserHandle ? null : overrides.UserHandle ?? credential.UserHandle;
        return Serialize(overrides, new JsonObject
        {
            ["id"] = Base64Url.EncodeToString(credential.Id),
            ["rawId"] = Base64Url.EncodeToString(credential.Id),
            ["type"] = "public-key",
            ["authenticatorAttachment"] = "platform",
            ["clientExtensionResults"] = new JsonObject(),
            ["response"] = new JsonObject
            {
                ["clientDataJSON"] = Base64Url.EncodeToString(clientData),
                ["authenticatorData"] = Base64Url.EncodeToString(authenticatorData),
                ["signature"] = Base64Url.EncodeToString(signature),
                ["userHandle"] = userHandle is null ? null : Base64Url.EncodeToString(userHandle),
            },
        });
    }

    public void Dispose()
    {
        foreach (var credential in credentials)
        {
            credential.Key.Dispose();
        }
    }

    /// <summary>The base64url challenge with its first byte changed.</summary>
    private static string WithOneByteChanged(string challenge)
    {
        var bytes = Base64Url.DecodeFromChars(challenge);
        bytes[0] ^= 0x01;
        return Base64Url.EncodeToString(bytes);
    }

    private static byte[] ClientData(string type, string challenge, string origin, IReadOnlyDictionary<string, JsonNode?>? members)
    {
        var clientData = new JsonObject
        {
            ["type"] = type,
            ["challenge"] = challenge,
            ["origin"] = origin,
            ["crossOrigin"] = false,
        };
        foreach (var (name, value) in members ?? new Dictionary<string, JsonNode?>())
        {
            clientData[name] = value?.DeepClone();
        }

        return JsonSerializer.SerializeToUtf8Bytes(clientData);
    }

    /// <summary>The public key as a COSE_Key map: EC2, ES256, P-256, x, y.</summary>
    private static byte[] CoseKey(ECDsa key)
    {
        var parameters = key.ExportParameters(includePrivateParameters: false);
        var writer = new CborWriter(CborConformanceMode.Ctap2Canonical);
        writer.WriteStartMap(5);
        writer.WriteInt32(1);
        writer.WriteInt32(2);
        writer.WriteInt32(3);
        writer.WriteInt32(-7);
        writer.WriteInt32(-1);
        writer.WriteInt32(1);
        writer.WriteInt32(-2);
        writer.WriteByteString(parameters.Q.X!);
        writer.WriteInt32(-3);
        writer.WriteByteString(parameters.Q.Y!);
        writer.WriteEndMap();
        return writer.Encode();
    }

    private static byte[] BigEndian(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] BigEndian16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(part => part)];

    /// <summary>The credential as the client sends it, with the members a test asked to add or replace.</summary>
    private static string Serialize(CeremonyOverrides overrides, JsonObject json)
    {
        foreach (var (name, value) in overrides.CredentialMembers ?? new Dictionary<string, JsonNode?>())
        {
            json[name] = value?.DeepClone();
        }

        foreach (var (name, value) in overrides.ResponseMembers ?? new Dictionary<string, JsonNode?>())
        {
            json["response"]![name] = value?.DeepClone();
        }

        return json.ToJsonString();
    }
}

/// <summary>A credential the software authenticator holds.</summary>
public sealed record StoredCredential(byte[] Id, ECDsa Key, byte[] UserHandle, bool BackupEligible)
{
    public uint SignCount { get; set; }
}

/// <summary>What either ceremony can be made to get wrong: where it claims to come from and what it signs.</summary>
public abstract record CeremonyOverrides
{
    public string? Origin { get; init; }

    public string? RpId { get; init; }

    public string? Type { get; init; }

    public string? Challenge { get; init; }

    public bool? UserPresent { get; init; }

    public bool? BackupEligible { get; init; }

    /// <summary>The BS flag, whatever BE says (by default: backup eligible and <see cref="SoftwareAuthenticator.Synced"/>).</summary>
    public bool? BackedUp { get; init; }

    /// <summary>Members added to (or replacing those in) clientDataJSON, e.g. <c>topOrigin</c>; signed like the rest.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? ClientDataMembers { get; init; }

    /// <summary>Members added to (or replacing those in) the credential JSON, e.g. <c>clientExtensionResults</c>.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? CredentialMembers { get; init; }

    /// <summary>Members added to (or replacing those in) the credential's <c>response</c>, e.g. <c>userHandle: ""</c>.</summary>
    public IReadOnlyDictionary<string, JsonNode?>? ResponseMembers { get; init; }
}

/// <summary>Ways to get a registration wrong on purpose.</summary>
public sealed record RegistrationOverrides : CeremonyOverrides
{
    /// <summary>Reuse a credential id (as a second authenticator claiming the same id would).</summary>
    public byte[]? CredentialId { get; init; }

    /// <summary><c>response.transports</c> as sent (by default "internal" and "hybrid").</summary>
    public string[]? Transports { get; init; }
}

/// <summary>Ways to get an assertion wrong on purpose.</summary>
public sealed record AssertionOverrides : CeremonyOverrides
{
    public StoredCredential? Credential { get; init; }

    public uint? SignCount { get; init; }

    public bool OmitUserHandle { get; init; }

    public byte[]? UserHandle { get; init; }

    public bool? UserVerified { get; init; }

    public bool TamperSignature { get; init; }

    public bool TamperAuthenticatorData { get; init; }

    /// <summary>Breaks the clientDataJSON sent so that it no longer parses (its last <c>false</c> becomes <c>falsd</c>).</summary>
    public bool TamperClientData { get; init; }

    /// <summary>
    /// Signs client data that differs from the clientDataJSON sent in one way: what is sent is well-formed and
    /// right in every member (challenge, type, origin), so only the signature check can refuse the answer.
    /// </summary>
    public ClientDataAlteration SignedClientData { get; init; }
}

/// <summary>How the client data an authenticator signed differs from the client data sent with the signature.</summary>
public enum ClientDataAlteration
{
    /// <summary>The same client data: the signature covers what is sent.</summary>
    None,

    /// <summary>The signed challenge differs in one byte.</summary>
    OneChallengeByte,

    /// <summary>The signed type is <c>webauthn.create</c>.</summary>
    OtherType,

    /// <summary>The signed origin is another site's.</summary>
    OtherOrigin,
}
