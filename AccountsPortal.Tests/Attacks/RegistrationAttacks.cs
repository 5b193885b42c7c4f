using System.Formats.Cbor;
using System.Net;
using System.Security.Cryptography;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// What a registration answer may claim about the new passkey: an algorithm the portal did not offer, a public key
/// that is no key, a credential id over the limit; and the names people give their passkeys. Sent to the services
/// the passkeys page calls, from a browser that confirmed it is the owner a moment ago.
/// </summary>
public sealed class RegistrationAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string ControlCharacters = "The name contains invisible control characters. Use letters, digits, spaces and punctuation.";

    /// <summary>A new account, a browser of it that just signed in, and a registration ceremony begun for it.</summary>
    private async Task<(string UserId, string Browser, CeremonyStart Start)> RegistrationAsync(AttackPortal? on = null)
    {
        var bench = (on ?? portal).Passkeys;
        var userId = await bench.CreateUserAsync();
        var browser = await bench.SignedInBrowserAsync(userId);
        var start = await bench.BeginRegistrationAsync(userId);
        Assert.True(start.Succeeded, start.Error);
        return (userId, browser, start);
    }

    /// <summary>Registers <paramref name="answer"/> and checks it was refused with <paramref name="message"/>, using up only its challenge.</summary>
    private async Task AssertRefusedAsync(Func<string, string> answer, string message, AttackPortal? on = null)
    {
        on ??= portal;
        var (userId, browser, start) = await RegistrationAsync(on);
        var credential = answer(start.OptionsJson!);
        var before = await on.SnapshotAsync();

        var outcome = await on.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", credential, browser);

        Assert.Equal(message, outcome.Error);
        await DatabaseState.AssertChangedOnlyAsync(on.App, before, Expected.CeremonyConsumed(start.CeremonyId));
    }

    public static TheoryData<string, int> AlgorithmsNotOffered => new()
    {
        { "ES384", -35 },
        { "ES512", -36 },
        { "PS256", -37 },
        { "ES256K", -47 },
        { "RS1", -65535 },
    };

    [Theory]
    [MemberData(nameof(AlgorithmsNotOffered))]
    public async Task A_key_for_an_algorithm_the_portal_did_not_offer_is_refused(string name, int alg)
    {
        var (userId, browser, start) = await RegistrationAsync();
        Assert.DoesNotContain(alg, System.Text.Json.Nodes.JsonNode.Parse(start.OptionsJson!)!["pubKeyCredParams"]!.AsArray().Select(p => p!["alg"]!.GetValue<int>()));
        using var key = ECDsa.Create(name switch
        {
            "ES384" => ECCurve.NamedCurves.nistP384,
            "ES512" => ECCurve.NamedCurves.nistP521,
            _ => ECCurve.NamedCurves.nistP256,
        });
        using var rsa = RSA.Create(2048);
        var coseKey = name is "PS256" or "RS1"
            ? Rsa(rsa.ExportParameters(false).Modulus!, rsa.ExportParameters(false).Exponent!, alg)
            : WebAuthnForge.CoseEc2(key, alg, name switch { "ES384" => 2, "ES512" => 3, "ES256K" => 8, _ => 1 });
        var credential = WebAuthnForge.Registration(start.OptionsJson!, portal.App.Origin, coseKey: coseKey);
        var before = await portal.SnapshotAsync();

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", credential, browser);

        Assert.Equal(PasskeyMessages.NotVerified, outcome.Error);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.CeremonyConsumed(start.CeremonyId));
    }

    [Fact]
    public async Task An_es256_key_is_refused_where_the_portal_offers_only_eddsa()
    {
        using var eddsaOnly = AttackPortal.With(app => app.WithSetting("Passkeys:Algorithms:0", "EdDSA"));
        using var authenticator = eddsaOnly.Passkeys.NewAuthenticator();

        await AssertRefusedAsync(options => authenticator.CreateCredential(options), PasskeyMessages.NotVerified, eddsaOnly);
    }

    public static TheoryData<string> InvalidCoseKeys => new()
    {
        "EC2 point not on the curve",
        "EC2 x coordinate of 31 bytes",
        "EC2 key with P-384 coordinates for ES256",
        "no key type",
        "key type OKP with ES256",
        "an array, not a map",
        "the algorithm label twice",
        "bytes after the key",
        "Ed25519 key of 5 bytes",
        "RSA modulus of 8 bits",
        "RSA modulus of 1024 bits",
        "RSA exponent of 1",
    };

    [Theory]
    [MemberData(nameof(InvalidCoseKeys))]
    public async Task A_public_key_that_is_no_usable_key_is_refused(string variant)
    {
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var q = p256.ExportParameters(false).Q;
        using var rsa1024 = RSA.Create(1024);
        using var rsa2048 = RSA.Create(2048);
        var coseKey = variant switch
        {
            "EC2 point not on the curve" => Ec2(Enumerable.Repeat((byte)1, 32).ToArray(), Enumerable.Repeat((byte)2, 32).ToArray()),
            "EC2 x coordinate of 31 bytes" => Ec2(q.X![1..], q.Y!),
            "EC2 key with P-384 coordinates for ES256" => Ec2(p384.ExportParameters(false).Q.X!, p384.ExportParameters(false).Q.Y!),
            "no key type" => WebAuthnForge.Cbor(w =>
            {
                w.WriteStartMap(4);
                Pair(w, 3, -7);
                Pair(w, -1, 1);
                w.WriteInt32(-2);
                w.WriteByteString(q.X!);
                w.WriteInt32(-3);
                w.WriteByteString(q.Y!);
                w.WriteEndMap();
            }),
            "key type OKP with ES256" => Ec2(q.X!, q.Y!, kty: 1),
            "an array, not a map" => WebAuthnForge.Cbor(w =>
            {
                w.WriteStartArray(2);
                w.WriteInt32(1);
                w.WriteInt32(2);
                w.WriteEndArray();
            }),
            "the algorithm label twice" => WebAuthnForge.Cbor(w =>
            {
                w.WriteStartMap(6);
                Pair(w, 1, 2);
                Pair(w, 3, -7);
                Pair(w, 3, -8);
                Pair(w, -1, 1);
                w.WriteInt32(-2);
                w.WriteByteString(q.X!);
                w.WriteInt32(-3);
                w.WriteByteString(q.Y!);
                w.WriteEndMap();
            }),
            "bytes after the key" => [.. WebAuthnForge.CoseEc2(p256), 0x00, 0x01],
            "Ed25519 key of 5 bytes" => WebAuthnForge.Cbor(w =>
            {
                w.WriteStartMap(4);
                Pair(w, 1, 1);
                Pair(w, 3, -8);
                Pair(w, -1, 6);
                w.WriteInt32(-2);
                w.WriteByteString(new byte[5]);
                w.WriteEndMap();
            }),
            "RSA modulus of 8 bits" => Rsa([0xC5], [0x01, 0x00, 0x01]),
            "RSA modulus of 1024 bits" => Rsa(rsa1024.ExportParameters(false).Modulus!, rsa1024.ExportParameters(false).Exponent!),
            "RSA exponent of 1" => Rsa(rsa2048.ExportParameters(false).Modulus!, [0x01]),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };

        await AssertRefusedAsync(options => WebAuthnForge.Registration(options, portal.App.Origin, coseKey: coseKey), PasskeyMessages.NotVerified);
    }

    [Fact]
    public async Task A_2048_bit_rsa_key_is_still_accepted()
    {
        var (userId, browser, start) = await RegistrationAsync();
        using var rsa = RSA.Create(2048);

        var outcome = await portal.CompleteRegistrationAsync(
            userId, start.CeremonyId!, "Windows Hello", WebAuthnForge.Registration(start.OptionsJson!, portal.App.Origin, coseKey: Rsa(rsa.ExportParameters(false).Modulus!, rsa.ExportParameters(false).Exponent!)), browser);

        Assert.True(outcome.Succeeded, outcome.Error);
    }

    [Theory]
    [InlineData(1023, true)]
    [InlineData(1024, false)]
    public async Task A_credential_id_may_have_at_most_1023_bytes(int length, bool accepted)
    {
        var (userId, browser, start) = await RegistrationAsync();
        var credentialId = RandomNumberGenerator.GetBytes(length);
        var answer = WebAuthnForge.Registration(start.OptionsJson!, portal.App.Origin, credentialId: credentialId);
        var before = await portal.SnapshotAsync();

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, "Long id", answer, browser);

        if (accepted)
        {
            Assert.True(outcome.Succeeded, outcome.Error);
            Assert.Equal(credentialId, Assert.Single(await portal.Passkeys.PasskeysAsync(userId)).CredentialId);
        }
        else
        {
            Assert.Equal(PasskeyMessages.NotVerified, outcome.Error);
            await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.CeremonyConsumed(start.CeremonyId));
        }
    }

    [Fact]
    public async Task A_raw_id_that_is_not_the_attested_credential_id_is_refused()
    {
        await AssertRefusedAsync(options => WebAuthnForge.Registration(options, portal.App.Origin, rawId: RandomNumberGenerator.GetBytes(16)), PasskeyMessages.NotVerified);
    }

    public static TheoryData<string, string> RefusedNames => new()
    {
        { "Key\0", ControlCharacters },
        { "Key\u200F", ControlCharacters },
        { "Key\u061C", ControlCharacters },
        { "\u2067Key", ControlCharacters },
        { string.Concat(Enumerable.Repeat("\U0001F511", 65)), "A passkey name can be at most 64 characters." },
        { string.Concat(Enumerable.Repeat("\U0001F469\u200D\U0001F4BB", 64)), "A passkey name can be at most 64 characters." },
        { "a" + new string('\u0301', 300), "A passkey name can be at most 64 characters." },
    };

    [Theory]
    [MemberData(nameof(RefusedNames))]
    public async Task A_name_with_invisible_controls_or_over_the_limit_is_refused_before_the_ceremony_is_used(string name, string message)
    {
        var (userId, browser, start) = await RegistrationAsync();
        using var authenticator = portal.Passkeys.NewAuthenticator();
        var answer = authenticator.CreateCredential(start.OptionsJson!);
        var before = await portal.SnapshotAsync();

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, name, answer, browser);

        Assert.Equal(message, outcome.Error);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Theory]
    [InlineData("Key\0")]
    [InlineData("Work\u202Eyek")]
    [InlineData("")]
    public async Task Renaming_to_a_refused_name_changes_nothing(string name)
    {
        var (userId, _, authenticator) = await portal.AccountWithPasskeyAsync();
        using (authenticator)
        {
            var passkeyId = (await portal.Passkeys.PasskeysAsync(userId)).Single().Id;
            var browser = await portal.Passkeys.SignedInBrowserAsync(userId);
            var before = await portal.SnapshotAsync();

            var outcome = await portal.Passkeys.WithAsync(s => s.GetRequiredService<PasskeyManagement>().RenameAsync(userId, passkeyId, name, browser));

            Assert.False(outcome.Succeeded);
            Assert.NotNull(outcome.Error);
            await DatabaseState.AssertUnchangedAsync(portal.App, before);
        }
    }

    [Fact]
    public async Task A_name_of_64_four_byte_emoji_fills_the_256_byte_limit_exactly_and_is_kept()
    {
        var (userId, browser, start) = await RegistrationAsync();
        using var authenticator = portal.Passkeys.NewAuthenticator();
        var name = string.Concat(Enumerable.Repeat("\U0001F511", 64));
        Assert.Equal(PasskeyName.MaxBytes, System.Text.Encoding.UTF8.GetByteCount(name));

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, name, authenticator.CreateCredential(start.OptionsJson!), browser);

        Assert.True(outcome.Succeeded, outcome.Error);
        Assert.Equal(name, Assert.Single(await portal.Passkeys.PasskeysAsync(userId)).Name);
    }

    [Fact]
    public async Task A_name_made_of_html_is_stored_as_typed_and_shown_as_text()
    {
        const string name = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        var (_, email) = await portal.Passkeys.CreateAccountAsync();
        using var browser = new Browser(portal.App);
        await browser.SignInAsync(email);
        var userId = await portal.App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        var browserSession = await portal.App.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).SingleAsync());
        var start = await portal.Passkeys.BeginRegistrationAsync(userId);
        using var authenticator = portal.Passkeys.NewAuthenticator();

        var outcome = await portal.CompleteRegistrationAsync(userId, start.CeremonyId!, name, authenticator.CreateCredential(start.OptionsJson!), browserSession);

        Assert.True(outcome.Succeeded, outcome.Error);
        Assert.Equal(name, Assert.Single(await portal.Passkeys.PasskeysAsync(userId)).Name);
        foreach (var path in new[] { "/passkeys", "/account/activity" })
        {
            var page = await browser.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.DoesNotContain("<img src=x", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<script>alert(2)", html, StringComparison.Ordinal);
            Assert.Contains(name, (await page.ReadHtmlAsync()).Body!.TextContent, StringComparison.Ordinal);
        }
    }

    private static void Pair(CborWriter writer, int label, int value)
    {
        writer.WriteInt32(label);
        writer.WriteInt32(value);
    }

    private static byte[] Ec2(byte[] x, byte[] y, int kty = 2) => WebAuthnForge.Cbor(w =>
    {
        w.WriteStartMap(5);
        Pair(w, 1, kty);
        Pair(w, 3, -7);
        Pair(w, -1, 1);
        w.WriteInt32(-2);
        w.WriteByteString(x);
        w.WriteInt32(-3);
        w.WriteByteString(y);
        w.WriteEndMap();
    });

    private static byte[] Rsa(byte[] modulus, byte[] exponent, int alg = -257) => WebAuthnForge.Cbor(w =>
    {
        w.WriteStartMap(4);
        Pair(w, 1, 3);
        Pair(w, 3, alg);
        w.WriteInt32(-1);
        w.WriteByteString(modulus);
        w.WriteInt32(-2);
        w.WriteByteString(exponent);
        w.WriteEndMap();
    });
}
