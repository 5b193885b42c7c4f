using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// What real browsers and apps send back from a passkey dialog, replayed where it enters the portal:
/// the app API for assertions (Kestrel-free in-memory server, real Fido2 verification), the
/// registration service the passkeys page calls for attestations.
/// </summary>
public sealed class ClientInputTests(AppApiFixture fixture) : IClassFixture<AppApiFixture>
{
    private PortalAppFactory App => fixture.App;

    private PasskeyBench Bench => new(App);

    /// <summary>An app's login through the API, waiting for the passkey of a new account; its options fetched.</summary>
    private async Task<ApiPasskeyLogin> ApiLoginAsync(bool synced = false)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var authenticator = Bench.NewAuthenticator();
        authenticator.Synced = synced;
        await Bench.RegisterAsync(userId, authenticator);
        var client = new AppApiClient(App.CreatePortalClient());
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var login = new ApiPasskeyLogin(userId, client, authenticator, body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!);
        return login;
    }

    private sealed record ApiPasskeyLogin(string UserId, AppApiClient Client, SoftwareAuthenticator Authenticator, string SessionId, string Secret) : IDisposable
    {
        public async Task<string> OptionsAsync() =>
            await (await Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/passkey/options", Secret)).Content.ReadAsStringAsync();

        public Task<HttpResponseMessage> AnswerAsync(string credentialJson) =>
            Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/passkey", Secret, new { credential = JsonDocument.Parse(credentialJson).RootElement });

        public void Dispose()
        {
            Client.Dispose();
            Authenticator.Dispose();
        }
    }

    /// <summary>Passkeys, tokens and the session (its failed-attempt counter aside, which a refusal raises): what a refusal must leave alone.</summary>
    private async Task<string> SnapshotAsync(ApiPasskeyLogin login) =>
        await Bench.AllPasskeysSnapshotAsync() + await Bench.SessionSnapshotAsync(login.SessionId)
        + await App.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == login.UserId));

    private async Task AssertRefusedAsync(ApiPasskeyLogin login, string credentialJson, string message)
    {
        var before = await SnapshotAsync(login);

        var response = await login.AnswerAsync(credentialJson);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(message, (await AppApiClient.JsonAsync(response)).GetProperty("title").GetString());
        Assert.Equal(before, await SnapshotAsync(login));
    }

    [Fact]
    public async Task An_empty_user_handle_is_treated_as_absent()
    {
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides
        {
            ResponseMembers = new Dictionary<string, JsonNode?> { ["userHandle"] = "" },
        });
        Assert.Contains("\"userHandle\":\"\"", answer);
        var response = await login.AnswerAsync(answer);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await login.Client.MeAsync((await AppApiClient.JsonAsync(response)).GetProperty("token").GetString()!)).StatusCode);
    }

    [Theory]
    [MemberData(nameof(PasskeyRules.All), MemberType = typeof(PasskeyRules))]
    public async Task The_counter_backup_and_ownership_rules_hold_on_the_api_as_on_the_browser_path(string rule)
    {
        using var login = await ApiLoginAsync();
        using var stranger = Bench.NewAuthenticator();
        await PasskeyRules.PrepareAsync(rule, Bench, login.UserId, login.Authenticator, stranger);

        var (answer, message) = PasskeyRules.Answer(rule, await login.OptionsAsync(), login.Authenticator, stranger);

        if (message is null)
        {
            Assert.Equal(HttpStatusCode.OK, (await login.AnswerAsync(answer)).StatusCode);
        }
        else if (rule == PasskeyRules.CounterDidNotMove)
        {
            // Refused, and the passkey is marked as possibly copied (the one change a refusal makes on purpose).
            var response = await login.AnswerAsync(answer);
            Assert.Equal(message, (await AppApiClient.JsonAsync(response)).GetProperty("title").GetString());
            Assert.True(Assert.Single(await Bench.PasskeysAsync(login.UserId)).PossiblyCloned);
        }
        else
        {
            await AssertRefusedAsync(login, answer, message);
        }
    }

    [Fact]
    public async Task A_user_handle_of_another_account_stays_refused()
    {
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides
        {
            UserHandle = PasskeyRelyingParty.UserHandleOf(Guid.NewGuid().ToString()),
        });

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotThisAccount);
    }

    public static TheoryData<string> OriginsNotConfigured => new()
    {
        "http://localhost/some/path?q=1",
        "http://user:pw@LOCALHOST",
        "http://LOCALHOST",
        "http://localhost/",
        "http://localhost:80",
        "https://localhost",
        "http://localhost.",
    };

    [Theory]
    [MemberData(nameof(OriginsNotConfigured))]
    public async Task An_origin_that_is_not_exactly_a_configured_one_is_refused(string origin)
    {
        // The in-memory server's configured origin is http://localhost; each of these reduces to it or looks like it.
        Assert.Equal("http://localhost", App.Origin);
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { Origin = origin });

        await AssertRefusedAsync(login, answer, PasskeyMessages.WrongOrigin);
    }

    public static TheoryData<string, string> EmbeddedClientData => new()
    {
        { "crossOrigin", "true" },
        { "crossOrigin", "\"false\"" },
        { "topOrigin", "\"http://localhost\"" },
        { "topOrigin", "\"https://evil.example\"" },
    };

    [Theory]
    [MemberData(nameof(EmbeddedClientData))]
    public async Task A_cross_origin_or_embedded_ceremony_is_refused(string member, string value)
    {
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides
        {
            ClientDataMembers = new Dictionary<string, JsonNode?> { [member] = JsonNode.Parse(value) },
        });

        await AssertRefusedAsync(login, answer, PasskeyMessages.WrongOrigin);
    }

    [Theory]
    [InlineData(ClientDataAlteration.OneChallengeByte)]
    [InlineData(ClientDataAlteration.OtherType)]
    [InlineData(ClientDataAlteration.OtherOrigin)]
    public async Task Client_data_that_is_not_what_was_signed_is_refused_by_the_signature(ClientDataAlteration signed)
    {
        using var login = await ApiLoginAsync();
        var options = await login.OptionsAsync();
        var answer = login.Authenticator.GetAssertion(options, new AssertionOverrides { SignedClientData = signed });
        // What is sent is well-formed and right: the challenge handed out, a get, the portal's origin.
        var clientData = JsonNode.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(JsonNode.Parse(answer)!["response"]!["clientDataJSON"]!.GetValue<string>()))!;
        Assert.Equal(JsonNode.Parse(options)!["challenge"]!.GetValue<string>(), clientData["challenge"]!.GetValue<string>());
        Assert.Equal("webauthn.get", clientData["type"]!.GetValue<string>());
        Assert.Equal(App.Origin, clientData["origin"]!.GetValue<string>());

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotVerified);
    }

    [Fact]
    public async Task An_assertion_backed_up_but_not_backup_eligible_is_refused()
    {
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { BackupEligible = false, BackedUp = true });

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotVerified);
    }

    public static TheoryData<string, string> ExtrasThatChangeNothing => new()
    {
        { "authenticatorAttachment", "\"cross-platform\"" },
        { "authenticatorAttachment", "\"future-attachment\"" },
        { "somethingNew", "{\"a\": [1, 2, 3]}" },
        { "clientExtensionResults", "{\"prf\": {\"enabled\": true}, \"largeBlob\": {\"supported\": false}, \"unknown\": 7}" },
        { "clientExtensionResults", "{\"appid\": true, \"credProps\": \"not an object\"}" },
    };

    [Theory]
    [MemberData(nameof(ExtrasThatChangeNothing))]
    public async Task Members_and_extension_results_the_portal_did_not_ask_for_change_nothing(string member, string value)
    {
        using var login = await ApiLoginAsync();

        var answer = login.Authenticator.GetAssertion(await login.OptionsAsync(), new AssertionOverrides
        {
            CredentialMembers = new Dictionary<string, JsonNode?> { [member] = JsonNode.Parse(value) },
        });
        var response = await login.AnswerAsync(answer);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("usb", "cable")]
    [InlineData("usb", "future-transport-x")]
    [InlineData("usb", "")]
    public async Task Unknown_transports_are_ignored_and_the_passkey_is_stored(string known, string unknown)
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var start = await Bench.BeginRegistrationAsync(userId);

        var outcome = await Bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key",
            authenticator.CreateCredential(start.OptionsJson!, new RegistrationOverrides { Transports = [known, unknown] }));

        Assert.True(outcome.Succeeded, outcome.Error);
        var passkey = Assert.Single(await Bench.PasskeysAsync(userId));
        Assert.Equal("usb", passkey.Transports);
        // The stored transports go back to the browser as hints at the next login.
        var login = await Bench.BeginLoginAsync(await Bench.StartLoginAsync(userId));
        Assert.Equal("[\"usb\"]", JsonNode.Parse(login.OptionsJson!)!["allowCredentials"]![0]!["transports"]!.ToJsonString());
    }

    [Fact]
    public async Task Transports_that_are_not_a_list_of_strings_are_ignored()
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var start = await Bench.BeginRegistrationAsync(userId);
        var credential = JsonNode.Parse(authenticator.CreateCredential(start.OptionsJson!))!;
        credential["response"]!["transports"] = new JsonArray(1, null, new JsonObject(), "nfc");

        var outcome = await Bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", credential.ToJsonString());

        Assert.True(outcome.Succeeded, outcome.Error);
        Assert.Equal("nfc", Assert.Single(await Bench.PasskeysAsync(userId)).Transports);
    }

    public static TheoryData<string, string> BadRegistrations => new()
    {
        { "backed up, not eligible", PasskeyMessages.NotVerified },
        { "http://localhost/some/path?q=1", PasskeyMessages.WrongOrigin },
        { "http://user:pw@LOCALHOST", PasskeyMessages.WrongOrigin },
        { "topOrigin", PasskeyMessages.WrongOrigin },
    };

    [Theory]
    [MemberData(nameof(BadRegistrations))]
    public async Task A_registration_with_a_bad_flag_or_origin_stores_nothing(string input, string message)
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var start = await Bench.BeginRegistrationAsync(userId);
        var overrides = input switch
        {
            "backed up, not eligible" => new RegistrationOverrides { BackupEligible = false, BackedUp = true },
            "topOrigin" => new RegistrationOverrides { ClientDataMembers = new Dictionary<string, JsonNode?> { ["topOrigin"] = "https://evil.example" } },
            _ => new RegistrationOverrides { Origin = input },
        };
        var before = await Bench.AllPasskeysSnapshotAsync();
        var stamp = await App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync());

        var outcome = await Bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", authenticator.CreateCredential(start.OptionsJson!, overrides));

        Assert.Equal(message, outcome.Error);
        Assert.Equal(before, await Bench.AllPasskeysSnapshotAsync());
        Assert.Equal(stamp, await App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync()));
    }

    [Fact]
    public async Task Configured_origins_must_be_written_as_browsers_send_them()
    {
        foreach (var origin in new[] { "http://localhost:5000/", "http://LOCALHOST:5000", "https://accounts.example:443", "http://a:b@localhost:5000", "localhost:5000" })
        {
            using var app = new PortalAppFactory().WithSetting("Passkeys:Origins:0", origin);
            var failure = Assert.ThrowsAny<Exception>(() => app.Services);
            Assert.Contains("Passkeys:Origins must be written as browsers send them", failure.ToString());
        }
    }
}
