using System.Net;
using System.Text.Json;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.Attacks;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Tests.Api;

/// <summary>A portal on Kestrel with two related origins (<c>Passkeys:RelatedOrigins</c>) and the test app registered.</summary>
public sealed class RelatedOriginsPortal : IDisposable
{
    public const string Related = "https://accounts.example.org";

    public const string AlsoRelated = "https://example-partner.test:8443";

    public AttackPortal Portal { get; } = AttackPortal.With(app => app
        .WithSetting("Passkeys:RelatedOrigins:0", Related)
        .WithSetting("Passkeys:RelatedOrigins:1", AlsoRelated));

    public void Dispose() => Portal.Dispose();
}

/// <summary>
/// Related origins (WebAuthn L3 §5.11.1): the well-known document browsers fetch, and ceremonies from a related origin
/// accepted exactly as from the portal's own, on the app API and the services the pages call.
/// </summary>
public sealed class RelatedOriginsTests(RelatedOriginsPortal fixture) : IClassFixture<RelatedOriginsPortal>
{
    private AttackPortal Portal => fixture.Portal;

    private PortalAppFactory App => fixture.Portal.App;

    [Fact]
    public async Task The_well_known_document_lists_the_portals_origin_then_its_related_origins_as_cacheable_json()
    {
        using var client = App.CreatePortalClient();

        var response = await client.GetAsync("/.well-known/webauthn");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(["origins"], document.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            [App.Origin, RelatedOriginsPortal.Related, RelatedOriginsPortal.AlsoRelated],
            document.RootElement.GetProperty("origins").EnumerateArray().Select(o => o.GetString()));
        Assert.True(response.Headers.CacheControl?.Public);
        Assert.Equal(TimeSpan.FromMinutes(5), response.Headers.CacheControl?.MaxAge);
        Assert.False(response.Headers.CacheControl?.NoStore);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Without_related_origins_there_is_no_document()
    {
        using var plain = new PortalAppFactory();
        using var client = plain.CreatePortalClient();

        var response = await client.GetAsync("/.well-known/webauthn");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.NotEqual("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_portal_that_moved_away_from_its_rp_id_serves_the_document_on_the_rp_ids_host_and_nothing_else_there()
    {
        // The portal moved to accounts.new.example and keeps legacy.example as the RP ID of its passkeys.
        using var moved = new PortalAppFactory()
            .WithSetting("Passkeys:RelyingPartyId", "legacy.example")
            .WithSetting("Passkeys:Origins:0", "https://accounts.new.example")
            .WithSetting("Passkeys:RelatedOrigins:0", "https://accounts.new.example");
        using var legacy = moved.CreateDefaultClient(new Uri("https://legacy.example"));
        using var portal = moved.CreateDefaultClient(new Uri("https://accounts.new.example"));
        using var other = moved.CreateDefaultClient(new Uri("https://other.example"));

        var document = await legacy.GetAsync("/.well-known/webauthn");

        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        Assert.Equal("""{"origins":["https://accounts.new.example"]}""", await document.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await legacy.GetAsync("/login")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await legacy.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await portal.GetAsync("/login")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await portal.GetAsync("/.well-known/webauthn")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await other.GetAsync("/.well-known/webauthn")).StatusCode);
    }

    [Theory]
    [InlineData(RelatedOriginsPortal.Related, HttpStatusCode.Forbidden)]
    [InlineData(RelatedOriginsPortal.AlsoRelated, HttpStatusCode.Forbidden)]
    [InlineData(null, HttpStatusCode.OK)]
    public async Task The_blazor_hub_still_takes_browsers_from_the_portals_own_origins_only(string? origin, HttpStatusCode expected)
    {
        using var client = App.CreatePortalClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1");
        request.Headers.Add("Origin", origin ?? App.Origin);

        var response = await client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }

    [Theory]
    [InlineData(RelatedOriginsPortal.Related)]
    [InlineData(RelatedOriginsPortal.AlsoRelated)]
    public async Task An_app_login_whose_passkey_answered_on_a_related_origin_is_verified(string origin)
    {
        using var login = await Portal.ApiPasskeyLoginAsync();
        var answer = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { Origin = origin });

        var response = await login.AnswerAsync(answer);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var token = (await AppApiClient.JsonAsync(response)).GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await login.Client.MeAsync(token)).StatusCode);
    }

    [Fact]
    public async Task A_passkey_added_on_a_related_origin_is_stored_and_signs_in_there_on_the_verify_page()
    {
        var bench = Portal.Passkeys;
        var userId = await bench.CreateUserAsync();
        using var authenticator = new SoftwareAuthenticator("localhost", RelatedOriginsPortal.Related);

        await bench.RegisterAsync(userId, authenticator, "Partner laptop");
        var sessionId = await bench.StartLoginAsync(userId);
        var result = await bench.LogInAsync(sessionId, authenticator);

        Assert.Equal("Partner laptop", Assert.Single(await bench.PasskeysAsync(userId)).Name);
        Assert.True(result.Succeeded, result.Error);
    }

    /// <summary>Origins a browser could send that are not in the list, some of them one step from a related origin.</summary>
    public static TheoryData<string> UnlistedOrigins => new()
    {
        "https://accounts.example.net",
        "https://sub.accounts.example.org",
        "http://accounts.example.org",
        "https://accounts.example.org:8443",
        // Not how a browser writes the related origin; Fido2NetLib alone would reduce these to it.
        "https://accounts.example.org:443",
        "https://accounts.example.org/",
        "https://ACCOUNTS.example.org",
        "https://example-partner.test",
    };

    [Theory]
    [MemberData(nameof(UnlistedOrigins))]
    public async Task An_app_login_answered_on_an_unlisted_origin_is_refused_and_changes_only_its_attempt_and_challenge(string origin)
    {
        using var login = await Portal.ApiPasskeyLoginAsync();
        var answer = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { Origin = origin });
        var before = await Portal.SnapshotAsync();

        var response = await login.AnswerAsync(answer);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "PASSKEY_NOT_VERIFIED", PasskeyMessages.WrongOrigin);
        await DatabaseState.AssertChangedOnlyAsync(
            App, before, Expected.FailedAttemptCounted(login.SessionId), Expected.ChallengeUsed(boundTo: login.SessionId));
    }

    [Theory]
    [MemberData(nameof(UnlistedOrigins))]
    public async Task A_registration_answered_on_an_unlisted_origin_is_refused_and_changes_only_its_challenge(string origin)
    {
        var bench = Portal.Passkeys;
        var userId = await bench.CreateUserAsync();
        var browser = await bench.SignedInBrowserAsync(userId);
        var start = await bench.BeginRegistrationAsync(userId);
        using var authenticator = new SoftwareAuthenticator("localhost", origin);
        var credential = authenticator.CreateCredential(start.OptionsJson!);
        var before = await Portal.SnapshotAsync();

        var outcome = await Portal.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", credential, browser);

        Assert.Equal(PasskeyMessages.WrongOrigin, outcome.Error);
        await DatabaseState.AssertChangedOnlyAsync(App, before, Expected.CeremonyConsumed(start.CeremonyId));
    }

    [Fact]
    public void Configured_related_origins_must_be_written_as_browsers_send_them()
    {
        foreach (var origin in new[] { "https://accounts.example.org/", "https://ACCOUNTS.example.org", "https://accounts.example.org:443", "https://a:b@accounts.example.org", "accounts.example.org", "ftp://accounts.example.org" })
        {
            using var app = new PortalAppFactory().WithSetting("Passkeys:RelatedOrigins:0", origin);
            var failure = Assert.ThrowsAny<Exception>(() => app.Services);
            Assert.Contains("Passkeys:RelatedOrigins must be written as browsers send them", failure.ToString());
        }
    }
}
