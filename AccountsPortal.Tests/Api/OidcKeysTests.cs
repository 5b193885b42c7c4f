using System.Net;
using AccountsPortal.Features.Oidc;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static AccountsPortal.Tests.TestSupport.OidcTestClient;

namespace AccountsPortal.Tests.Api;

/// <summary>The provider's keys: kept in the database, rotated by slot, published ahead and kept while tokens may need them; valid across restarts and nodes.</summary>
public sealed class OidcKeysTests
{
    [Fact]
    public async Task Keys_rotate_by_slot_the_next_is_published_ahead_and_a_retired_one_stays_while_tokens_may_need_it()
    {
        using var app = new PortalAppFactory()
            .WithSetting("Oidc:KeyRotationInterval", "30.00:00:00")
            .WithSetting("Oidc:KeyRefreshInterval", "1.00:00:00")
            .WithSetting("Oidc:RefreshTokenLifetime", "10.00:00:00");
        using var http = app.CreatePortalClient();
        var ring = app.Services.GetRequiredService<OidcKeyRing>();
        var interval = TimeSpan.FromDays(30);
        // An hour into a slot far enough ahead that the keys made at start are past their acceptance, so every step below
        // lands where the rule says.
        var slot = ring.SlotOf(app.Time.GetUtcNow()) + 3;
        app.Time.SetUtcNow(DateTimeOffset.UnixEpoch + (interval * slot) + TimeSpan.FromHours(1));

        var keys = await ring.LoadAsync(CancellationToken.None);
        Assert.Equal([slot, slot + 1], SlotsOf(keys, OidcKeyRing.SigningUse));
        Assert.Equal([slot, slot + 1], SlotsOf(keys, OidcKeyRing.EncryptionUse));
        var current = keys.First(k => k.Key.Use == OidcKeyRing.SigningUse).Key;
        ring.Refresh();
        Assert.Equal(Kids(keys), await PublishedKidsAsync(http));

        // A slot later the next key signs, the one after it is published, and the retired one is still accepted.
        app.Time.Advance(interval);
        keys = await ring.LoadAsync(CancellationToken.None);
        Assert.Equal([slot + 1, slot + 2, slot], SlotsOf(keys, OidcKeyRing.SigningUse));
        ring.Refresh();
        var published = await PublishedKidsAsync(http);
        Assert.Contains(current.KeyId, published);
        Assert.Equal(3, published.Count);

        // Once no token signed with it can be valid, it is deleted and no longer published.
        app.Time.Advance(TimeSpan.FromDays(10));
        keys = await ring.LoadAsync(CancellationToken.None);
        Assert.Equal([slot + 1, slot + 2], SlotsOf(keys, OidcKeyRing.SigningUse));
        ring.Refresh();
        Assert.DoesNotContain(current.KeyId, await PublishedKidsAsync(http));

        // Material is never stored in the clear: what the database holds is not a PKCS#8 key.
        var stored = await app.WithDbAsync(db => Task.FromResult(db.Set<OidcKey>().First(k => k.Use == OidcKeyRing.SigningUse).ProtectedMaterial));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() =>
            System.Security.Cryptography.RSA.Create().ImportPkcs8PrivateKey(stored, out _));
    }

    [Fact]
    public async Task Two_nodes_starting_together_agree_on_one_key_per_slot_and_accept_each_others_tokens()
    {
        using var first = new PortalAppFactory().WithOidcClients();
        using var second = PortalAppFactory.NodeSharingDatabaseWith(first).WithOidcClients();
        _ = first.CreatePortalClient();
        _ = second.CreatePortalClient();
        await Task.WhenAll(
            Enumerable.Range(0, 8).Select(i => (i % 2 == 0 ? first : second).Services.GetRequiredService<OidcKeyRing>().LoadAsync(CancellationToken.None)));
        var keys = await first.Services.GetRequiredService<OidcKeyRing>().LoadAsync(CancellationToken.None);
        Assert.Equal(4, keys.Count);

        var browser = new PortalScenario(first);
        await browser.SignUpAndFollowAsync(PortalScenario.NewEmail());
        var (verifier, challenge) = Pkce();
        var (location, _, _) = await FollowAsync(browser.Http, AuthorizeUrl(challenge));
        var tokens = await JsonAsync(await RedeemAsync(browser.Http, Query(location!, "code")!, verifier));
        using var other = second.CreatePortalClient();
        var refreshed = await RefreshAsync(other, tokens.GetProperty("refresh_token").GetString()!);
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await UserInfoAsync(other, tokens.GetProperty("access_token").GetString()!)).StatusCode);
    }

    [Fact]
    public async Task A_refresh_token_issued_before_a_restart_works_after_it()
    {
        await using var portal = new PortalProcess()
            .With("Oidc:Clients:0:ClientId", PublicClient)
            .With("Oidc:Clients:0:Name", "Test SPA")
            .With("Oidc:Clients:0:FirstParty", "true")
            .With("Oidc:Clients:0:RedirectUris:0", RedirectUri);
        string email;
        var seed = new PortalAppFactory().WithSetting("Database:SqlitePath", portal.DatabasePath);
        try
        {
            email = (await new PasskeyBench(seed).CreateAccountAsync()).Email;
        }
        finally
        {
            seed.Dispose();
            SqliteConnection.ClearAllPools();
        }

        await portal.StartAsync();
        using var browser = portal.CreateClient(new CookieContainer());
        var login = await browser.SubmitAsync("/login", "login", new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = PortalScenario.StrongPassword });
        var (_, afterLogin, _) = await FollowAsync(browser, login.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, afterLogin.StatusCode);
        var (verifier, challenge) = Pkce();
        var (location, last, _) = await FollowAsync(browser, AuthorizeUrl(challenge));
        Assert.True(location is not null, $"{last.StatusCode} {await last.Content.ReadAsStringAsync()}");
        var tokens = await JsonAsync(await RedeemAsync(browser, Query(location!, "code")!, verifier));

        await portal.RestartAsync();

        using var after = portal.CreateClient();
        var refreshed = await RefreshAsync(after, tokens.GetProperty("refresh_token").GetString()!);
        Assert.True(refreshed.IsSuccessStatusCode, await refreshed.Content.ReadAsStringAsync());
        var renewed = await JsonAsync(refreshed);
        Assert.Equal(Payload(tokens.GetProperty("id_token").GetString()!).GetProperty("sub").GetString(), Payload(renewed.GetProperty("id_token").GetString()!).GetProperty("sub").GetString());
        Assert.Equal(HttpStatusCode.OK, (await UserInfoAsync(after, tokens.GetProperty("access_token").GetString()!)).StatusCode);
    }

    [Fact]
    public async Task A_signing_certificate_file_replaces_the_database_signing_keys()
    {
        var folder = Directory.CreateTempSubdirectory("oidc-cert-");
        try
        {
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
                "CN=AccountsPortal token signing", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
            var path = Path.Combine(folder.FullName, "signing.pfx");
            await File.WriteAllBytesAsync(path, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12, "pfx-password"));

            using var app = new PortalAppFactory()
                .WithSetting("Oidc:SigningCertificatePath", path)
                .WithSetting("Oidc:SigningCertificatePassword", "pfx-password");
            using var http = app.CreatePortalClient();
            var keys = (await JsonAsync(await http.GetAsync("/.well-known/jwks"))).GetProperty("keys").EnumerateArray().ToList();
            var published = Assert.Single(keys);
            var modulus = key.ExportParameters(includePrivateParameters: false).Modulus!;
            Assert.Equal(System.Buffers.Text.Base64Url.EncodeToString(modulus), published.GetProperty("n").GetString());
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_portal_with_an_unsafe_client_does_not_start()
    {
        using var app = new PortalAppFactory()
            .WithSetting("Oidc:Clients:0:ClientId", "server")
            .WithSetting("Oidc:Clients:0:Name", "Server")
            .WithSetting("Oidc:Clients:0:Type", "Confidential")
            .WithSetting("Oidc:Clients:0:RedirectUris:0", "https://app.example.com/signin-oidc");
        var failure = Assert.Throws<OptionsValidationException>(() => app.CreatePortalClient());
        Assert.Contains("Oidc client 'server' is Confidential: its ClientSecret must be at least 32 characters.", failure.Failures);
    }

    private static long[] SlotsOf(IEnumerable<(OidcKey Key, byte[] Material)> keys, string use) => [.. keys.Where(k => k.Key.Use == use).Select(k => k.Key.Slot)];

    private static HashSet<string> Kids(IEnumerable<(OidcKey Key, byte[] Material)> keys) =>
        [.. keys.Where(k => k.Key.Use == OidcKeyRing.SigningUse).Select(k => k.Key.KeyId)];

    private static async Task<HashSet<string>> PublishedKidsAsync(HttpClient http) =>
        [.. (await JsonAsync(await http.GetAsync("/.well-known/jwks"))).GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()!)];
}
