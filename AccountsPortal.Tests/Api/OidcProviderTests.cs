using System.Net;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Oidc;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenIddict.EntityFrameworkCore.Models;
using static AccountsPortal.Tests.TestSupport.OidcTestClient;

namespace AccountsPortal.Tests.Api;

/// <summary>The OpenID Connect provider on SQLite.</summary>
public sealed class SqliteOidcProviderTests(SqliteOidcProviderTests.Portal app) : OidcProviderTests(app), IClassFixture<SqliteOidcProviderTests.Portal>
{
    public sealed class Portal : PortalAppFactory
    {
        public Portal() => this.WithOidcClients();
    }
}

/// <summary>The OpenID Connect provider on PostgreSQL.</summary>
public sealed class PostgresOidcProviderTests(PostgresOidcProviderTests.Portal app) : OidcProviderTests(app), IClassFixture<PostgresOidcProviderTests.Portal>
{
    public sealed class Portal : PortalAppFactory
    {
        public Portal()
            : base(Data.DatabaseProvider.Postgres) => this.WithOidcClients();
    }
}

/// <summary>The OpenID Connect provider over HTTP: the code flow with PKCE, tokens and their refusals, consent, prompts, and the grant's end.</summary>
public abstract class OidcProviderTests(PortalAppFactory app)
{
    private sealed record SignedIn(PortalScenario Browser, string UserId, string Email);

    /// <summary>A new account without a second factor, signed in to the portal in its own cookie jar.</summary>
    private async Task<SignedIn> SignedInAsync()
    {
        var browser = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await browser.SignUpAndFollowAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        return new SignedIn(browser, userId, email);
    }

    private async Task<(string Code, string Verifier)> CodeAsync(SignedIn signedIn, string clientId = PublicClient, string scope = "openid email profile offline_access")
    {
        var (verifier, challenge) = Pkce();
        var (location, last, _) = await FollowAsync(signedIn.Browser.Http, AuthorizeUrl(challenge, clientId, scope: scope));
        Assert.True(location is not null, $"No redirect to the client: {last.StatusCode} {await last.Content.ReadAsStringAsync()}");
        Assert.StartsWith(RedirectUri + "?", location!.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("st-123", Query(location, "state"));
        return (Query(location, "code")!, verifier);
    }

    private async Task<System.Text.Json.JsonElement> TokensAsync(SignedIn signedIn, string clientId = PublicClient, string? secret = null)
    {
        var (code, verifier) = await CodeAsync(signedIn, clientId);
        var response = await RedeemAsync(signedIn.Browser.Http, code, verifier, clientId, secret);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await JsonAsync(response);
    }

    private async Task<T> ScopedAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider);
    }

    private Task<int> TokenRowsAsync() => app.WithDbAsync(db => db.Set<OpenIddictEntityFrameworkCoreToken>().CountAsync());

    [Fact]
    public async Task Discovery_offers_only_the_code_flow_with_S256_and_the_JWKS_publishes_the_signing_keys()
    {
        using var http = app.CreatePortalClient();
        var discovery = await JsonAsync(await http.GetAsync("/.well-known/openid-configuration"));
        Assert.Equal(["authorization_code", "refresh_token"], discovery.GetProperty("grant_types_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["code"], discovery.GetProperty("response_types_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["S256"], discovery.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("urn:accountsportal:acr:mfa", discovery.GetProperty("acr_values_supported").EnumerateArray().Select(e => e.GetString()));
        var jwks = await JsonAsync(await http.GetAsync(new Uri(discovery.GetProperty("jwks_uri").GetString()!).PathAndQuery));
        var keys = jwks.GetProperty("keys").EnumerateArray().ToList();
        // The key in use and the next slot's, published ahead; RSA public keys only (no private parameter ever).
        Assert.Equal(2, keys.Count);
        Assert.All(keys, key =>
        {
            Assert.Equal("RSA", key.GetProperty("kty").GetString());
            Assert.False(key.TryGetProperty("d", out _));
        });
    }

    [Fact]
    public async Task A_password_only_sign_in_gets_an_id_token_with_pwd_and_userinfo_with_the_verified_email()
    {
        var signedIn = await SignedInAsync();
        var tokens = await TokensAsync(signedIn);
        var id = Payload(tokens.GetProperty("id_token").GetString()!);
        Assert.Equal(signedIn.UserId, id.GetProperty("sub").GetString());
        Assert.NotEqual(signedIn.Email, id.GetProperty("sub").GetString());
        Assert.Equal(signedIn.Email, id.GetProperty("email").GetString());
        Assert.True(id.GetProperty("email_verified").GetBoolean());
        Assert.Equal("n-456", id.GetProperty("nonce").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Array, id.GetProperty("amr").ValueKind);
        Assert.Equal(["pwd"], id.GetProperty("amr").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("urn:accountsportal:acr:pwd", id.GetProperty("acr").GetString());
        Assert.InRange(id.GetProperty("auth_time").GetInt64(), app.Time.GetUtcNow().AddMinutes(-5).ToUnixTimeSeconds(), app.Time.GetUtcNow().ToUnixTimeSeconds());
        Assert.False(id.TryGetProperty(OidcPrincipal.StampClaim, out _));

        var userInfo = await UserInfoAsync(signedIn.Browser.Http, tokens.GetProperty("access_token").GetString()!);
        Assert.Equal(HttpStatusCode.OK, userInfo.StatusCode);
        var claims = await JsonAsync(userInfo);
        Assert.Equal(signedIn.UserId, claims.GetProperty("sub").GetString());
        Assert.Equal(signedIn.Email, claims.GetProperty("email").GetString());
        Assert.True(claims.GetProperty("email_verified").GetBoolean());

        // The first sign-in to a client tells the owner; the second does not.
        await TokensAsync(signedIn);
        var newApp = await app.WithDbAsync(db => db.SecurityEvents.CountAsync(e =>
            e.UserId == signedIn.UserId && e.Kind == Features.Activity.SecurityEventKind.NewDeviceSignedIn && e.Detail!.StartsWith("Test SPA")));
        Assert.Equal(1, newApp);
    }

    [Fact]
    public async Task A_refresh_rotates_the_refresh_token_and_reusing_an_old_one_revokes_the_whole_family()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var first = await TokensAsync(signedIn);
        var refreshed = await RefreshAsync(http, first.GetProperty("refresh_token").GetString()!);
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var second = await JsonAsync(refreshed);
        Assert.NotEqual(first.GetProperty("refresh_token").GetString(), second.GetProperty("refresh_token").GetString());
        Assert.Equal(["pwd"], Payload(second.GetProperty("id_token").GetString()!).GetProperty("amr").EnumerateArray().Select(e => e.GetString()));

        // Someone replays the first refresh token: refused, and the family ends — the legitimate holder's new tokens too.
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, first.GetProperty("refresh_token").GetString()!)));
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, second.GetProperty("refresh_token").GetString()!)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(http, second.GetProperty("access_token").GetString()!)).StatusCode);
    }

    [Fact]
    public async Task A_replayed_code_and_a_wrong_verifier_are_refused_with_invalid_grant()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;

        var (code, verifier) = await CodeAsync(signedIn);
        var rows = await TokenRowsAsync();
        Assert.Equal("invalid_grant", await ErrorAsync(await RedeemAsync(http, code, Pkce().Verifier)));
        // No verifier at all is a malformed request (RFC 7636 §4.6).
        Assert.Equal("invalid_request", await ErrorAsync(await RedeemAsync(http, code, "")));

        var (replayed, replayVerifier) = await CodeAsync(signedIn);
        var once = await JsonAsync(await RedeemAsync(http, replayed, replayVerifier));
        Assert.Equal("invalid_grant", await ErrorAsync(await RedeemAsync(http, replayed, replayVerifier)));
        // The replay revokes what the code already gave (RFC 6749 §4.1.2).
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, once.GetProperty("refresh_token").GetString()!)));
        Assert.True(rows <= await TokenRowsAsync());
        _ = verifier;
    }

    [Fact]
    public async Task Requests_without_PKCE_S256_are_refused_with_invalid_request_and_issue_nothing()
    {
        var signedIn = await SignedInAsync();
        var rows = await TokenRowsAsync();
        var missing = AuthorizeUrl("x").Replace("&code_challenge=x&code_challenge_method=S256", "", StringComparison.Ordinal);
        var plain = AuthorizeUrl(Pkce().Verifier).Replace("code_challenge_method=S256", "code_challenge_method=plain", StringComparison.Ordinal);
        foreach (var (url, parameter) in new[] { (missing, "code_challenge"), (plain, "code_challenge_method") })
        {
            // Refused before any redirect: the page names the error, and no code exists.
            var (location, last, _) = await FollowAsync(signedIn.Browser.Http, url);
            Assert.Null(location);
            Assert.Equal(HttpStatusCode.BadRequest, last.StatusCode);
            var body = await last.Content.ReadAsStringAsync();
            Assert.Contains("error:invalid_request", body, StringComparison.Ordinal);
            Assert.Contains($"'{parameter}'", body, StringComparison.Ordinal);
        }

        Assert.Equal(rows, await TokenRowsAsync());
    }

    [Theory]
    [InlineData(PublicClient, RedirectUri + "/")]
    [InlineData(PublicClient, "http://localhost:7891/Callback")]
    [InlineData(PublicClient, "http://LOCALHOST:7891/callback")]
    [InlineData(PublicClient, "http://localhost:7891/callback?x=1")]
    [InlineData("no-such-client", RedirectUri)]
    public async Task An_unknown_client_or_a_redirect_URI_not_registered_exactly_gets_an_error_page_never_a_redirect(string clientId, string redirectUri)
    {
        var signedIn = await SignedInAsync();
        var rows = await TokenRowsAsync();
        var (location, last, _) = await FollowAsync(signedIn.Browser.Http, AuthorizeUrl(Pkce().Challenge, clientId, redirectUri));
        Assert.Null(location);
        Assert.Equal(HttpStatusCode.BadRequest, last.StatusCode);
        Assert.Null(last.Headers.Location);
        Assert.Contains("invalid_request", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(rows, await TokenRowsAsync());
    }

    [Fact]
    public async Task Prompt_none_without_a_session_answers_login_required_and_prompt_login_or_max_age_zero_asks_again()
    {
        using var anonymous = app.CreatePortalClient();
        var (location, _, _) = await FollowAsync(anonymous, AuthorizeUrl(Pkce().Challenge, extra: "&prompt=none"));
        Assert.Equal("login_required", Query(location!, "error"));
        Assert.Equal("st-123", Query(location!, "state"));

        var signedIn = await SignedInAsync();
        foreach (var extra in new[] { "&prompt=login", "&max_age=0" })
        {
            app.Time.Advance(TimeSpan.FromSeconds(2));
            var response = await signedIn.Browser.Http.GetAsync(AuthorizeUrl(Pkce().Challenge, extra: extra));
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            var login = response.Headers.Location!;
            Assert.Equal("/login", login.IsAbsoluteUri ? login.AbsolutePath : login.OriginalString.Split('?')[0]);
            // The way back asks for neither again, so the fresh sign-in ends at the app instead of in a loop.
            var back = Query(new Uri(new Uri("http://localhost"), login), "returnUrl")!;
            Assert.StartsWith("/connect/authorize?", back, StringComparison.Ordinal);
            Assert.DoesNotContain("prompt=login", back, StringComparison.Ordinal);
            Assert.DoesNotContain("max_age", back, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_third_party_app_asks_for_consent_once_and_a_refusal_answers_access_denied()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var (location, last, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, ThirdPartyClient, scope: "openid email"));
        Assert.Null(location);
        var consentPage = await last.ReadHtmlAsync();
        Assert.Contains("Someone Else's App", consentPage.QuerySelector("h1")!.TextContent, StringComparison.Ordinal);

        // "Don't allow": access_denied at the app, and nothing remembered.
        var denied = await http.SubmitAsync(consentPage, "/connect/consent", OidcEndpoints.AuthorizePath, new Dictionary<string, string> { [OidcEndpoints.ConsentField] = "deny" });
        Assert.Equal("access_denied", Query(denied.Headers.Location!, "error"));

        var (verifier, challenge) = Pkce();
        (_, last, _) = await FollowAsync(http, AuthorizeUrl(challenge, ThirdPartyClient, scope: "openid email"));
        var allowed = await http.SubmitAsync(await last.ReadHtmlAsync(), "/connect/consent", OidcEndpoints.AuthorizePath, new Dictionary<string, string> { [OidcEndpoints.ConsentField] = "allow" });
        var code = Query(allowed.Headers.Location!, "code");
        Assert.NotNull(code);
        Assert.Equal(HttpStatusCode.OK, (await RedeemAsync(http, code!, verifier, ThirdPartyClient)).StatusCode);

        // Asked once: the next sign-in goes straight back; a scope the app may not have is refused before any redirect.
        (location, _, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, ThirdPartyClient, scope: "openid email"));
        Assert.NotNull(Query(location!, "code"));
        (location, last, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, ThirdPartyClient, scope: "openid email offline_access"));
        Assert.Null(location);
        Assert.Contains("not allowed to use the 'offline_access' scope", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        (location, last, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, ThirdPartyClient, scope: "openid email profile"));
        Assert.Null(location);
        Assert.Equal(HttpStatusCode.BadRequest, last.StatusCode);
        Assert.Contains("not allowed to use the specified scope", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A consent form posted without its antiforgery token changes nothing.
        var forged = await http.PostAsync(OidcEndpoints.AuthorizePath, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = ThirdPartyClient,
            ["redirect_uri"] = RedirectUri,
            ["response_type"] = "code",
            ["scope"] = "openid email",
            ["code_challenge"] = Pkce().Challenge,
            ["code_challenge_method"] = "S256",
            [OidcEndpoints.ConsentField] = "allow",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
    }

    [Fact]
    public async Task A_confidential_client_must_present_its_secret()
    {
        var signedIn = await SignedInAsync();
        var (code, verifier) = await CodeAsync(signedIn, ConfidentialClient);
        Assert.Equal("invalid_client", await ErrorAsync(await RedeemAsync(signedIn.Browser.Http, code, verifier, ConfidentialClient, "wrong-secret-wrong-secret-wrong-secret")));
        (code, verifier) = await CodeAsync(signedIn, ConfidentialClient);
        Assert.Equal(HttpStatusCode.OK, (await RedeemAsync(signedIn.Browser.Http, code, verifier, ConfidentialClient, ConfidentialSecret)).StatusCode);
    }

    [Fact]
    public async Task Signed_in_apps_lists_the_sign_in_and_its_sign_out_or_a_security_stamp_rotation_ends_the_tokens()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var tokens = await TokensAsync(signedIn);
        var listed = await ScopedAsync(s => s.GetRequiredService<SignedInSessions>().AppsAsync(signedIn.UserId));
        var entry = Assert.Single(listed, e => e.Name == "Test SPA");
        Assert.StartsWith(OidcGrants.KeyPrefix, entry.Key, StringComparison.Ordinal);

        Assert.True(await ScopedAsync(s => s.GetRequiredService<OidcGrants>().SignOutAsync(signedIn.UserId, entry.Key, CancellationToken.None)));
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, tokens.GetProperty("refresh_token").GetString()!)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(http, tokens.GetProperty("access_token").GetString()!)).StatusCode);
        Assert.DoesNotContain(await ScopedAsync(s => s.GetRequiredService<SignedInSessions>().AppsAsync(signedIn.UserId)), e => e.Name == "Test SPA");

        // A factor or password change rotates the stamp: every app's tokens end with it.
        var again = await TokensAsync(signedIn);
        await ScopedAsync(s => s.GetRequiredService<AccountSecurity>().RotateAsync(signedIn.UserId, null, "test"));
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, again.GetProperty("refresh_token").GetString()!)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(http, again.GetProperty("access_token").GetString()!)).StatusCode);
    }

    [Fact]
    public async Task End_session_with_the_id_token_signs_the_browser_out_ends_the_grant_and_returns_to_the_registered_URI()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var tokens = await TokensAsync(signedIn);
        var idToken = tokens.GetProperty("id_token").GetString()!;

        // An unregistered return address is refused outright.
        var refused = await http.GetAsync($"/connect/logout?id_token_hint={idToken}&post_logout_redirect_uri={Uri.EscapeDataString("https://evil.example/")}");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.NotNull(signedIn.Browser.AuthCookie);

        // Without the app's ID token, the person confirms first (a link from anywhere signs nobody out).
        var prompt = await http.GetAsync($"/connect/logout?post_logout_redirect_uri={Uri.EscapeDataString(PostLogoutUri)}&client_id={PublicClient}");
        Assert.Equal("/connect/sign-out", prompt.Headers.Location!.OriginalString.Split('?')[0]);

        var ended = await http.GetAsync($"/connect/logout?id_token_hint={idToken}&post_logout_redirect_uri={Uri.EscapeDataString(PostLogoutUri)}&state=bye");
        Assert.Equal(HttpStatusCode.Redirect, ended.StatusCode);
        Assert.StartsWith(PostLogoutUri, ended.Headers.Location!.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("bye", Query(ended.Headers.Location!, "state"));
        Assert.Equal(HttpStatusCode.Redirect, (await http.GetAsync("/account")).StatusCode);
        Assert.Equal("invalid_grant", await ErrorAsync(await RefreshAsync(http, tokens.GetProperty("refresh_token").GetString()!)));
    }

    [Fact]
    public async Task Ambiguous_or_malformed_requests_are_refused_as_the_protocol_says_never_with_a_server_error()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var rows = await TokenRowsAsync();

        // A repeated scope would be described one way on the consent page and granted another: refused before any page.
        var repeated = AuthorizeUrl(Pkce().Challenge, ThirdPartyClient, scope: "openid") + "&scope=" + Uri.EscapeDataString("openid email");
        var (location, last, visited) = await FollowAsync(http, repeated);
        Assert.True(location is not null, $"{last.StatusCode} {string.Join(", ", visited)} {await last.Content.ReadAsStringAsync()}");
        Assert.Equal("invalid_request", Query(location!, "error"));
        Assert.DoesNotContain(visited, v => v.StartsWith(OidcEndpoints.ConsentPath, StringComparison.Ordinal));
        var consentPage = await http.GetAsync(OidcEndpoints.ConsentPath + new Uri("http://x" + repeated).Query);
        Assert.Equal(HttpStatusCode.BadRequest, consentPage.StatusCode);
        Assert.Empty((await consentPage.ReadHtmlAsync()).QuerySelectorAll("form[action='/connect/authorize']"));

        (location, last, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge).Replace("response_type=code", "response_type=code%20code", StringComparison.Ordinal));
        // Not a response type OpenIddict can answer through: the error is shown by the portal.
        Assert.Null(location);
        Assert.Equal(HttpStatusCode.BadRequest, last.StatusCode);
        Assert.Contains("error:unsupported_response_type", await last.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        (location, _, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, extra: "&max_age=abc"));
        Assert.Equal("invalid_request", Query(location!, "error"));
        Assert.Equal(rows, await TokenRowsAsync());

        // A max_age no clock can reach is simply satisfied.
        (location, _, _) = await FollowAsync(http, AuthorizeUrl(Pkce().Challenge, extra: "&max_age=9223372036854775807"));
        Assert.NotNull(Query(location!, "code"));

        // A NUL in a form is the client's fault.
        var nul = await http.PostAsync("/connect/token", new StringContent(
            "grant_type=refresh_token&client_id=test-spa%00&refresh_token=x", System.Text.Encoding.ASCII, "application/x-www-form-urlencoded"));
        Assert.Equal("invalid_request", await ErrorAsync(nul));

        // A verifier outside RFC 7636 §4.1 (here one character, its challenge made properly) is refused.
        var weak = "a";
        var weakChallenge = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.SHA256.HashData("a"u8));
        (location, _, _) = await FollowAsync(http, AuthorizeUrl(weakChallenge));
        Assert.Equal("invalid_request", await ErrorAsync(await RedeemAsync(http, Query(location!, "code")!, weak)));
    }

    [Fact]
    public async Task A_client_can_revoke_or_introspect_only_its_own_tokens()
    {
        var signedIn = await SignedInAsync();
        var http = signedIn.Browser.Http;
        var tokens = await TokensAsync(signedIn);
        var access = tokens.GetProperty("access_token").GetString()!;
        var refresh = tokens.GetProperty("refresh_token").GetString()!;

        foreach (var token in new[] { access, refresh })
        {
            var revoked = await http.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token, ["client_id"] = ThirdPartyClient }));
            Assert.Equal("unauthorized_client", await ErrorAsync(revoked));
        }

        var introspected = await http.PostAsync("/connect/introspect", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = access,
            ["client_id"] = ConfidentialClient,
            ["client_secret"] = ConfidentialSecret,
        }));
        Assert.Equal(HttpStatusCode.OK, introspected.StatusCode);
        Assert.False((await JsonAsync(introspected)).GetProperty("active").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await UserInfoAsync(http, access)).StatusCode);

        // Its own client may revoke it.
        var own = await http.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = access, ["client_id"] = PublicClient }));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await UserInfoAsync(http, access)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await RefreshAsync(http, refresh)).StatusCode);
    }
}
