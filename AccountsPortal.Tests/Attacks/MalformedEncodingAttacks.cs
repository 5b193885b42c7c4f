using System.Buffers.Text;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Passkeys;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Answers that are not well-formed base64url, JSON or CBOR: sent raw to the app API's passkey step (assertions) and
/// to the registration service the passkeys page calls (attestations). Each gets a clear refusal and changes nothing
/// but what a refusal is meant to change: the login's failed-attempt counter and, when the answer named its
/// challenge, that single-use challenge.
/// </summary>
public sealed class MalformedEncodingAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string ApiCode = "PASSKEY_NOT_VERIFIED";

    /// <summary>CBOR for a text-string map key "foo", the start of an authenticator extension map entry.</summary>
    private static readonly byte[] ExtensionKey = [0x63, (byte)'f', (byte)'o', (byte)'o'];

    public static TheoryData<string, string, bool> UnreadableAssertions => new()
    {
        // base64url
        { "rawId written in the base64 alphabet (+ and /)", PasskeyMessages.Unreadable, true },
        { "signature of an impossible base64url length", PasskeyMessages.Unreadable, true },
        { "authenticatorData with a character outside base64url", PasskeyMessages.Unreadable, true },
        // JSON
        { "userHandle that is a number", PasskeyMessages.Unreadable, true },
        { "credential that is a string", PasskeyMessages.Unreadable, false },
        { "clientDataJSON nested 100 deep", PasskeyMessages.RequestExpired, false },
        { "clientDataJSON with bytes after its object, signed", PasskeyMessages.RequestExpired, false },
        { "clientDataJSON that is a lone UTF-16 surrogate", PasskeyMessages.RequestExpired, false },
        // authenticator data and its CBOR extensions, all signed by the passkey
        { "authenticatorData one byte short of flags and counter", PasskeyMessages.Unreadable, true },
        { "extensions flag over a truncated CBOR map", PasskeyMessages.NotVerified, true },
        { "extension value with a 2^63-byte length prefix", PasskeyMessages.NotVerified, true },
        { "extension value nested 9000 arrays deep", PasskeyMessages.NotVerified, true },
        { "extension value nested 9000 indefinite arrays deep", PasskeyMessages.NotVerified, true },
        { "extension value that is a CBOR tag", PasskeyMessages.NotVerified, true },
        { "extension value that is a half-precision float", PasskeyMessages.NotVerified, true },
        { "extension map followed by trailing bytes", PasskeyMessages.NotVerified, true },
        { "trailing bytes without the extensions flag", PasskeyMessages.NotVerified, true },
    };

    [Theory]
    [MemberData(nameof(UnreadableAssertions))]
    public async Task A_malformed_passkey_answer_is_refused_and_only_counted(string variant, string message, bool namesItsChallenge)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var options = await login.OptionsAsync();
        var answer = MalformedAssertion(variant, options, login);
        var before = await portal.SnapshotAsync();

        var response = await login.PostRawAsync("passkey", "{\"credential\":" + answer + "}");

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, ApiCode, message);
        // The refusal counts toward the login's limit; an answer that named its challenge used it up.
        Expected[] expected = namesItsChallenge
            ? [Expected.FailedAttemptCounted(login.SessionId), Expected.ChallengeUsed(boundTo: login.SessionId)]
            : [Expected.FailedAttemptCounted(login.SessionId)];
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, expected);
    }

    public static TheoryData<string, string> UnreadableBodies => new()
    {
        { "credential nested 200 arrays deep", "{\"credential\":" + new string('[', 200) + new string(']', 200) + "}" },
        { "a second JSON value after the body", "{\"credential\":{}} {\"credential\":{}}" },
        { "a body cut off inside a string", "{\"credential\":{\"id\":\"AAA" },
    };

    [Theory]
    [MemberData(nameof(UnreadableBodies))]
    public async Task A_body_that_is_not_one_json_document_is_refused_before_the_login_is_touched(string variant, string body)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        await login.OptionsAsync();
        var before = await portal.SnapshotAsync();

        var response = await login.PostRawAsync("passkey", body);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "INVALID_REQUEST");
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
        Assert.False(string.IsNullOrEmpty(variant));
    }

    public static TheoryData<string, string> MalformedAttestationObjects => new()
    {
        { "cut off 10 bytes before its end", PasskeyMessages.NotVerified },
        { "followed by a trailing zero byte", PasskeyMessages.Unreadable },
        { "followed by a second CBOR map", PasskeyMessages.Unreadable },
        { "a map claiming 2^63 entries", PasskeyMessages.NotVerified },
        { "authData claiming 2^63 bytes", PasskeyMessages.NotVerified },
        { "attStmt nested 10000 arrays deep", PasskeyMessages.NotVerified },
        { "attStmt nested 10000 indefinite arrays deep", PasskeyMessages.NotVerified },
        { "attStmt holding a CBOR tag", PasskeyMessages.NotVerified },
        { "attStmt holding a half-precision float", PasskeyMessages.NotVerified },
    };

    [Theory]
    [MemberData(nameof(MalformedAttestationObjects))]
    public async Task A_malformed_attestation_object_stores_nothing_and_uses_up_only_its_challenge(string variant, string message)
    {
        var bench = portal.Passkeys;
        var userId = await bench.CreateUserAsync();
        var browser = await bench.SignedInBrowserAsync(userId);
        var start = await bench.BeginRegistrationAsync(userId);
        var answer = WebAuthnForge.Registration(start.OptionsJson!, portal.App.Origin, mutate: attestationObject => MalformedAttestationObject(variant, attestationObject));
        var before = await portal.SnapshotAsync();

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", answer, browser);

        Assert.Equal(message, outcome.Error);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.CeremonyConsumed(start.CeremonyId));
    }

    private string MalformedAssertion(string variant, string options, ApiLogin login)
    {
        var own = login.Own;
        var challenge = WebAuthnForge.ChallengeOf(options);
        var origin = portal.App.Origin;
        string Edit(Action<JsonNode> edit)
        {
            var answer = JsonNode.Parse(own.GetAssertion(options))!;
            edit(answer);
            return answer.ToJsonString();
        }

        // Signed by the passkey over exactly these bytes, so that only the encoding is wrong.
        string Signed(byte flags, byte[]? rest = null, byte[]? clientData = null) => WebAuthnForge.Assertion(
            own.Credentials[0], WebAuthnForge.AuthenticatorData(flags, 7, rest: rest), clientData ?? WebAuthnForge.ClientData(challenge, origin), own.Credentials[0].UserHandle);

        const byte Present = WebAuthnForge.UserPresent | WebAuthnForge.UserVerified;
        const byte WithExtensions = Present | WebAuthnForge.ExtensionData;
        return variant switch
        {
            "rawId written in the base64 alphabet (+ and /)" => Edit(a => a["rawId"] = "ab+/ab+/"),
            "signature of an impossible base64url length" => Edit(a => a["response"]!["signature"] = "AAAAA"),
            "authenticatorData with a character outside base64url" => Edit(a => a["response"]!["authenticatorData"] = "AAAA*AAA"),
            "userHandle that is a number" => Edit(a => a["response"]!["userHandle"] = 12345),
            "credential that is a string" => "\"a credential\"",
            "clientDataJSON nested 100 deep" => Edit(a => a["response"]!["clientDataJSON"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(new string('[', 100) + new string(']', 100)))),
            "clientDataJSON with bytes after its object, signed" => Signed(Present, clientData: [.. WebAuthnForge.ClientData(challenge, origin), .. "{}"u8]),
            "clientDataJSON that is a lone UTF-16 surrogate" => Edit(a => a["response"]!["clientDataJSON"] = "\ud800"),
            "authenticatorData one byte short of flags and counter" => Edit(a => a["response"]!["authenticatorData"] = Base64Url.EncodeToString(WebAuthnForge.AuthenticatorData(Present, 1)[..36])),
            "extensions flag over a truncated CBOR map" => Signed(WithExtensions, [0xA1]),
            "extension value with a 2^63-byte length prefix" => Signed(WithExtensions, [0xA1, .. ExtensionKey, 0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            "extension value nested 9000 arrays deep" => Signed(WithExtensions, [0xA1, .. ExtensionKey, .. Enumerable.Repeat((byte)0x81, 9000), 0x01]),
            "extension value nested 9000 indefinite arrays deep" => Signed(WithExtensions, [0xA1, .. ExtensionKey, .. Enumerable.Repeat((byte)0x9F, 9000), 0x01]),
            "extension value that is a CBOR tag" => Signed(WithExtensions, [0xA1, .. ExtensionKey, 0xC1, 0x01]),
            "extension value that is a half-precision float" => Signed(WithExtensions, [0xA1, .. ExtensionKey, 0xF9, 0x3C, 0x00]),
            "extension map followed by trailing bytes" => Signed(WithExtensions, [0xA1, .. ExtensionKey, 0xF5, 0x00, 0x01]),
            "trailing bytes without the extensions flag" => Signed(Present, [1, 2, 3, 4, 5]),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };
    }

    private static byte[] MalformedAttestationObject(string variant, byte[] attestationObject)
    {
        var authData = AuthDataOf(attestationObject);
        byte[] Nested(byte start) =>
        [
            0xA3, 0x63, .. "fmt"u8, 0x64, .. "none"u8, 0x67, .. "attStmt"u8, 0xA1, 0x61, (byte)'x',
            .. Enumerable.Repeat(start, 10000), 0x01, 0x68, .. "authData"u8, .. WebAuthnForge.Cbor(w => w.WriteByteString(authData)),
        ];
        byte[] WithStatement(Action<System.Formats.Cbor.CborWriter> value) => WebAuthnForge.Cbor(w =>
        {
            w.WriteStartMap(3);
            w.WriteTextString("fmt");
            w.WriteTextString("none");
            w.WriteTextString("attStmt");
            w.WriteStartMap(1);
            w.WriteTextString("x");
            value(w);
            w.WriteEndMap();
            w.WriteTextString("authData");
            w.WriteByteString(authData);
            w.WriteEndMap();
        });

        return variant switch
        {
            "cut off 10 bytes before its end" => attestationObject[..^10],
            "followed by a trailing zero byte" => [.. attestationObject, 0x00],
            "followed by a second CBOR map" => [.. attestationObject, 0xA0],
            "a map claiming 2^63 entries" => [0xBB, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, .. attestationObject[1..]],
            "authData claiming 2^63 bytes" => WithHugeAuthDataLength(attestationObject),
            "attStmt nested 10000 arrays deep" => Nested(0x81),
            "attStmt nested 10000 indefinite arrays deep" => Nested(0x9F),
            "attStmt holding a CBOR tag" => WithStatement(w =>
            {
                w.WriteTag(System.Formats.Cbor.CborTag.UnixTimeSeconds);
                w.WriteInt32(1);
            }),
            "attStmt holding a half-precision float" => WithStatement(w => w.WriteHalf((Half)1.0)),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };
    }

    /// <summary>The attestation object with its authData byte string's length prefix replaced by one of 2^63-1.</summary>
    private static byte[] WithHugeAuthDataLength(byte[] attestationObject)
    {
        var key = "authData"u8.ToArray();
        var index = attestationObject.AsSpan().IndexOf(key) + key.Length;
        // A byte string header: 0x58 and a 1-byte length, or 0x59 and a 2-byte length.
        var header = attestationObject[index] switch
        {
            0x58 => 2,
            0x59 => 3,
            var other => throw new InvalidOperationException($"Unexpected authData header {other:X2}."),
        };
        return [.. attestationObject[..index], 0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, .. attestationObject[(index + header)..]];
    }

    private static byte[] AuthDataOf(byte[] attestationObject)
    {
        var reader = new System.Formats.Cbor.CborReader(attestationObject);
        reader.ReadStartMap();
        while (reader.ReadTextString() != "authData")
        {
            reader.SkipValue();
        }

        return reader.ReadByteString();
    }
}
