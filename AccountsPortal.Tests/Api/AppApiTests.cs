using System.Net;
using System.Net.Http.Json;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

public sealed class AppApiFixture : IDisposable
{
    public PortalAppFactory App { get; } = AppApiClient.Configure(new PortalAppFactory());

    public void Dispose() => App.Dispose();
}

public sealed class AppApiTests(AppApiFixture fixture) : IClassFixture<AppApiFixture>
{
    private PortalAppFactory App => fixture.App;

    private PasskeyBench Bench => new(App);

    private AppApiClient NewClient() => new(App.CreatePortalClient());

    /// <summary>An account with a passkey whose login through the API waits for it.</summary>
    private async Task<(string Email, SoftwareAuthenticator Authenticator, string SessionId, string Secret, string VerifyUrl)> PendingPasskeyLoginAsync(
        AppApiClient client, string? redirectUri = null)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        var response = await client.LogInAsync(email, redirectUri: redirectUri);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await AppApiClient.JsonAsync(response);
        // The bench verifies as a holder of the login: here the app's own secret (a browser would have picked the approval number).
        Bench.Hold(body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!);
        return (email, authenticator, body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!, body.GetProperty("verifyUrl").GetString()!);
    }

    /// <summary>The app login, its login session and the account's tokens, as text: what a refused exchange must leave as it was.</summary>
    private Task<string> ExchangeSnapshotAsync(string sessionId) => App.WithDbAsync(async db =>
    {
        var session = await db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == sessionId);
        return System.Text.Json.JsonSerializer.Serialize(new
        {
            Login = await db.AppLogins.AsNoTracking().SingleAsync(l => l.SessionId == sessionId),
            Session = session,
            Tokens = await db.AppTokens.AsNoTracking().Where(t => t.UserId == session.UserId).OrderBy(t => t.Id).ToListAsync(),
        });
    });

    [Fact]
    public async Task Without_a_second_factor_login_returns_a_token_that_works_until_revoked()
    {
        var (_, email) = await Bench.CreateAccountAsync();
        using var client = NewClient();

        var login = await client.LogInAsync(email);

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var body = await AppApiClient.JsonAsync(login);
        var token = body.GetProperty("token").GetString()!;
        Assert.True(body.GetProperty("expiresAt").GetDateTimeOffset() > App.Time.GetUtcNow().AddDays(29));
        Assert.Equal(43, token.Length);
        var me = await client.MeAsync(token);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(email, (await AppApiClient.JsonAsync(me)).GetProperty("email").GetString());

        using var revoke = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/tokens/current");
        revoke.Headers.Authorization = new("Bearer", token);
        Assert.Equal(HttpStatusCode.NoContent, (await client.Http.SendAsync(revoke)).StatusCode);
        var after = await client.MeAsync(token);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Equal("INVALID_TOKEN", await AppApiClient.ProblemCodeAsync(after));
    }

    [Fact]
    public async Task Tokens_are_stored_hashed()
    {
        var (_, email) = await Bench.CreateAccountAsync();
        using var client = NewClient();
        var token = (await AppApiClient.JsonAsync(await client.LogInAsync(email))).GetProperty("token").GetString()!;

        var stored = await App.WithDbAsync(db => db.AppTokens.AsNoTracking().Select(t => t.TokenHash).ToListAsync());

        Assert.Contains(stored, hash => hash.AsSpan().SequenceEqual(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token))));
        Assert.DoesNotContain(stored, hash => System.Text.Encoding.UTF8.GetString(hash).Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Wrong_password_and_unknown_email_get_one_401()
    {
        var (_, email) = await Bench.CreateAccountAsync();
        using var client = NewClient();

        var wrong = await client.LogInAsync(email, "not the password");
        var unknown = await client.LogInAsync(PortalScenario.NewEmail(), "not the password");

        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal("INVALID_CREDENTIALS", await AppApiClient.ProblemCodeAsync(wrong));
        var wrongBody = await AppApiClient.JsonAsync(wrong);
        var unknownBody = await AppApiClient.JsonAsync(unknown);
        Assert.Equal(wrongBody.GetProperty("title").GetString(), unknownBody.GetProperty("title").GetString());
    }

    [Fact]
    public async Task A_locked_account_answers_423_with_retry_after()
    {
        var (_, email) = await Bench.CreateAccountAsync();
        using var client = NewClient();
        for (var i = 0; i < 5; i++)
        {
            await client.LogInAsync(email, "wrong " + i);
        }

        var locked = await client.LogInAsync(email);

        Assert.Equal((HttpStatusCode)423, locked.StatusCode);
        Assert.Equal("ACCOUNT_LOCKED", await AppApiClient.ProblemCodeAsync(locked));
        Assert.InRange(locked.Headers.RetryAfter!.Delta!.Value.TotalMinutes, 14, 15);
    }

    [Theory]
    [InlineData("unknown-app", null, "UNKNOWN_CLIENT")]
    [InlineData(null, null, "UNKNOWN_CLIENT")]
    [InlineData(AppApiClient.ClientId, AppApiClient.HttpsRedirect + "/", "INVALID_REDIRECT_URI")]
    [InlineData(AppApiClient.ClientId, "https://APP.example/callback", "INVALID_REDIRECT_URI")]
    [InlineData(AppApiClient.ClientId, AppApiClient.HttpsRedirect + "?x=1", "INVALID_REDIRECT_URI")]
    public async Task Unknown_clients_and_unregistered_redirect_uris_are_refused(string? clientId, string? redirectUri, string code)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var sessions = await App.WithDbAsync(db => db.LoginSessions.CountAsync(s => s.UserId == userId));
        using var client = new AppApiClient(App.CreatePortalClient(), clientId!);

        var response = await client.LogInAsync(email, redirectUri: redirectUri);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(sessions, await App.WithDbAsync(db => db.LoginSessions.CountAsync(s => s.UserId == userId)));
    }

    [Fact]
    public async Task A_passkey_account_gets_a_verify_url_for_its_app()
    {
        using var client = NewClient();

        var (_, authenticator, sessionId, secret, verifyUrl) = await PendingPasskeyLoginAsync(client, AppApiClient.HttpsRedirect);

        Assert.Equal(
            $"http://localhost/passkeys/verify?session={sessionId}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}",
            verifyUrl);
        Assert.Equal(43, secret.Length);
        var pending = await client.StatusAsync(sessionId, secret);
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        Assert.Equal("pending", (await AppApiClient.JsonAsync(pending)).GetProperty("status").GetString());
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_totp_account_gets_the_code_page()
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        await new TotpBench(App).EnableAsync(userId);
        using var client = NewClient();

        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));

        Assert.Equal("totp", body.GetProperty("secondFactor").GetString());
        Assert.StartsWith("http://localhost/two-factor/verify?session=", body.GetProperty("verifyUrl").GetString());
    }

    [Fact]
    public async Task The_redirect_carries_a_one_time_code_the_app_exchanges_exactly_once()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, secret, _) = await PendingPasskeyLoginAsync(client, AppApiClient.HttpsRedirect);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var returned = await client.Http.GetAsync($"/apps/return?session={sessionId}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}");

        Assert.Equal(HttpStatusCode.Redirect, returned.StatusCode);
        var location = returned.Headers.Location!;
        Assert.Equal(AppApiClient.HttpsRedirect, location.GetLeftPart(UriPartial.Path));
        var query = System.Web.HttpUtility.ParseQueryString(location.Query);
        Assert.Equal(sessionId, query["session"]);
        var code = query["code"]!;

        var beforeWrongSecret = await ExchangeSnapshotAsync(sessionId);
        Assert.Equal(HttpStatusCode.NotFound, (await client.ExchangeAsync(sessionId, "wrong-secret", code)).StatusCode);
        Assert.Equal(beforeWrongSecret, await ExchangeSnapshotAsync(sessionId));
        var exchanged = await client.ExchangeAsync(sessionId, secret, code);
        Assert.Equal(HttpStatusCode.OK, exchanged.StatusCode);
        var token = (await AppApiClient.JsonAsync(exchanged)).GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync(token)).StatusCode);

        var beforeReplay = await ExchangeSnapshotAsync(sessionId);
        var replay = await client.ExchangeAsync(sessionId, secret, code);
        Assert.Equal(HttpStatusCode.Gone, replay.StatusCode);
        Assert.Equal("SESSION_ALREADY_CLAIMED", await AppApiClient.ProblemCodeAsync(replay));
        Assert.Equal(beforeReplay, await ExchangeSnapshotAsync(sessionId));
        var poll = await client.StatusAsync(sessionId, secret);
        Assert.Equal(HttpStatusCode.Gone, poll.StatusCode);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_code_for_another_session_or_after_60_seconds_is_refused()
    {
        using var isolated = AppApiClient.Configure(new PortalAppFactory());
        var bench = new PasskeyBench(isolated);
        using var client = new AppApiClient(isolated.CreatePortalClient());
        async Task<(string Session, string Secret, string Code)> VerifiedAsync()
        {
            var (userId, email) = await bench.CreateAccountAsync();
            using var authenticator = bench.NewAuthenticator();
            await bench.RegisterAsync(userId, authenticator);
            var body = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
            var session = body.GetProperty("sessionId").GetString()!;
            bench.Hold(session, body.GetProperty("sessionSecret").GetString()!);
            Assert.True((await bench.LogInAsync(session, authenticator)).Succeeded);
            var returned = await client.Http.GetAsync($"/apps/return?session={session}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}");
            var code = System.Web.HttpUtility.ParseQueryString(returned.Headers.Location!.Query)["code"]!;
            return (session, body.GetProperty("sessionSecret").GetString()!, code);
        }

        var first = await VerifiedAsync();
        var second = await VerifiedAsync();
        // Both logins and both accounts' tokens, as text: what every refused exchange below must leave as it was.
        Task<string> SnapshotAsync() => isolated.WithDbAsync(async db => System.Text.Json.JsonSerializer.Serialize(new
        {
            Logins = await db.AppLogins.AsNoTracking().OrderBy(l => l.SessionId).ToListAsync(),
            Sessions = await db.LoginSessions.AsNoTracking().OrderBy(s => s.Id).ToListAsync(),
            Tokens = await db.AppTokens.AsNoTracking().OrderBy(t => t.Id).ToListAsync(),
        }));
        var before = await SnapshotAsync();

        var crossed = await client.ExchangeAsync(first.Session, first.Secret, second.Code);
        Assert.Equal(HttpStatusCode.BadRequest, crossed.StatusCode);
        Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(crossed));
        Assert.Equal(before, await SnapshotAsync());

        isolated.Time.Advance(TimeSpan.FromSeconds(61));
        var late = await client.ExchangeAsync(second.Session, second.Secret, second.Code);
        Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(late));

        // The first session's own code is still good within its minute? No: the same minute passed for it too.
        Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(await client.ExchangeAsync(first.Session, first.Secret, first.Code)));
        Assert.Equal(before, await SnapshotAsync());
        Assert.Empty(await isolated.WithDbAsync(db => db.AppTokens.ToListAsync()));
    }

    [Theory]
    [InlineData(AppApiClient.HttpsRedirect + "/")]
    [InlineData("https://app.example/Callback")]
    [InlineData(AppApiClient.HttpsRedirect + "?next=/admin")]
    [InlineData("https://evil.example/callback")]
    public async Task The_return_page_refuses_a_redirect_that_is_not_exactly_registered(string redirectUri)
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, _, _) = await PendingPasskeyLoginAsync(client);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var response = await client.Http.GetAsync($"/apps/return?session={sessionId}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(redirectUri)}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Contains("is not registered for Test App", await response.Content.ReadAsStringAsync());
        Assert.Null(await App.WithDbAsync(db => db.AppLogins.Where(l => l.SessionId == sessionId).Select(l => l.CodeHash).SingleAsync()));
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_custom_scheme_redirect_receives_the_code()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, _, _) = await PendingPasskeyLoginAsync(client, AppApiClient.CustomSchemeRedirect);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var response = await client.Http.GetAsync($"/apps/return?session={sessionId}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.CustomSchemeRedirect)}");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith(AppApiClient.CustomSchemeRedirect + "?session=" + sessionId + "&code=", response.Headers.Location!.OriginalString);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Recover_two_factor_also_returns_to_the_app()
    {
        var recovery = new RecoveryBench(App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        var email = await App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        using var client = NewClient();
        var login = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
        var sessionId = login.GetProperty("sessionId").GetString()!;
        var recoverPath = new Uri(login.GetProperty("verifyUrl").GetString()!).PathAndQuery.Replace("/passkeys/verify", "/two-factor/recover");

        // A browser recovers an app's login once it picked the number the app shows; the app alone can collect the token.
        using var browser = new PortalScenario(App);
        var approved = await browser.Http.SubmitAsync(recoverPath, LoginApprovalForm.Path, new Dictionary<string, string>
        {
            ["pick"] = login.GetProperty("approvalNumber").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.Equal(recoverPath, approved.LocationPath());
        var shown = await (await browser.Http.SubmitAsync(recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key })).ReadHtmlAsync();
        Assert.Equal(24, PortalScenario.RecoveryKeyWords(shown).Length);
        Assert.Null(browser.AuthCookie);

        var back = await browser.Http.SubmitAsync(shown, recoverPath, "/account/recovery-key/saved", new Dictionary<string, string> { ["saved"] = "on" });
        var returned = await browser.Http.GetAsync(back.LocationPath());

        Assert.Equal(HttpStatusCode.Redirect, returned.StatusCode);
        var code = System.Web.HttpUtility.ParseQueryString(returned.Headers.Location!.Query)["code"];
        var exchanged = await client.ExchangeAsync(sessionId, login.GetProperty("sessionSecret").GetString(), code);
        Assert.Equal(HttpStatusCode.OK, exchanged.StatusCode);
    }

    [Fact]
    public async Task Polling_returns_the_token_at_most_twice_then_410()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, secret, _) = await PendingPasskeyLoginAsync(client);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var first = await client.StatusAsync(sessionId, secret);
        var second = await client.StatusAsync(sessionId, secret);
        var third = await client.StatusAsync(sessionId, secret);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var token = (await AppApiClient.JsonAsync(first)).GetProperty("token").GetString();
        Assert.Equal(token, (await AppApiClient.JsonAsync(second)).GetProperty("token").GetString());
        Assert.Equal(HttpStatusCode.Gone, third.StatusCode);
        Assert.Equal("SESSION_ALREADY_CLAIMED", await AppApiClient.ProblemCodeAsync(third));
        Assert.Null(await App.WithDbAsync(db => db.AppLogins.Where(l => l.SessionId == sessionId).Select(l => l.ProtectedToken).SingleAsync()));
        authenticator.Dispose();
    }

    [Fact]
    public async Task Polling_more_than_two_minutes_after_verification_gets_410()
    {
        using var isolated = AppApiClient.Configure(new PortalAppFactory());
        var bench = new PasskeyBench(isolated);
        using var client = new AppApiClient(isolated.CreatePortalClient());
        var (authenticator, sessionId, secret) = await PendingPasskeyLoginAsync(bench, client);
        using var _ = authenticator;
        bench.Hold(sessionId, secret);
        Assert.True((await bench.LogInAsync(sessionId, authenticator)).Succeeded);
        isolated.Time.Advance(TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1));

        var late = await client.StatusAsync(sessionId, secret);

        Assert.Equal(HttpStatusCode.Gone, late.StatusCode);
        Assert.Equal("SESSION_EXPIRED", await AppApiClient.ProblemCodeAsync(late));
    }

    [Fact]
    public async Task Status_needs_the_session_secret()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, _, _) = await PendingPasskeyLoginAsync(client);

        var withoutSecret = await client.StatusAsync(sessionId, null);
        var wrongSecret = await client.StatusAsync(sessionId, "guess");

        Assert.Equal(HttpStatusCode.NotFound, withoutSecret.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, wrongSecret.StatusCode);
        Assert.Equal("SESSION_NOT_FOUND", await AppApiClient.ProblemCodeAsync(wrongSecret));
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_native_app_verifies_the_passkey_itself_and_gets_the_token()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, secret, _) = await PendingPasskeyLoginAsync(client);

        var options = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret);
        Assert.Equal(HttpStatusCode.OK, options.StatusCode);
        var optionsJson = await options.Content.ReadAsStringAsync();
        var bad = authenticator.GetAssertion(optionsJson, new AssertionOverrides { TamperSignature = true });
        var refused = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = System.Text.Json.JsonDocument.Parse(bad).RootElement });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(refused));

        // The refused answer used up its challenge: a new one is needed.
        optionsJson = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
        var good = authenticator.GetAssertion(optionsJson);
        var verified = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = System.Text.Json.JsonDocument.Parse(good).RootElement });

        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync((await AppApiClient.JsonAsync(verified)).GetProperty("token").GetString()!)).StatusCode);
        var replay = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = System.Text.Json.JsonDocument.Parse(good).RootElement });
        Assert.Equal(HttpStatusCode.Gone, replay.StatusCode);
        authenticator.Dispose();
    }

    [Fact]
    public async Task The_passkey_calls_need_the_session_secret_and_a_live_session_and_change_nothing_when_refused()
    {
        using var isolated = AppApiClient.Configure(new PortalAppFactory());
        using var client = new AppApiClient(isolated.CreatePortalClient());
        var (authenticator, sessionId, secret) = await PendingPasskeyLoginAsync(new PasskeyBench(isolated), client);
        using var _ = authenticator;
        var optionsJson = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
        var answer = new { credential = System.Text.Json.JsonDocument.Parse(authenticator.GetAssertion(optionsJson)).RootElement };
        var before = await LoginStateAsync(isolated, sessionId);

        var optionsWithoutSecret = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", "guess");
        var answerWithoutSecret = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", "guess", answer);
        Assert.Equal(HttpStatusCode.NotFound, optionsWithoutSecret.StatusCode);
        Assert.Equal("SESSION_NOT_FOUND", await AppApiClient.ProblemCodeAsync(optionsWithoutSecret));
        Assert.Equal(HttpStatusCode.NotFound, answerWithoutSecret.StatusCode);
        Assert.Equal("SESSION_NOT_FOUND", await AppApiClient.ProblemCodeAsync(answerWithoutSecret));
        Assert.Equal(before, await LoginStateAsync(isolated, sessionId));

        // Past the login session's lifetime: the right secret, a session no longer live.
        isolated.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        var lateOptions = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret);
        var lateAnswer = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, answer);
        Assert.Equal(HttpStatusCode.Gone, lateOptions.StatusCode);
        Assert.Equal("SESSION_EXPIRED", await AppApiClient.ProblemCodeAsync(lateOptions));
        Assert.Equal(HttpStatusCode.Gone, lateAnswer.StatusCode);
        Assert.Equal("SESSION_EXPIRED", await AppApiClient.ProblemCodeAsync(lateAnswer));
        Assert.Equal(before, await LoginStateAsync(isolated, sessionId));
    }

    /// <summary>An account with a passkey on <paramref name="bench"/>'s portal, whose app login waits for it.</summary>
    private static async Task<(SoftwareAuthenticator Authenticator, string SessionId, string Secret)> PendingPasskeyLoginAsync(PasskeyBench bench, AppApiClient client)
    {
        var (userId, email) = await bench.CreateAccountAsync();
        var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        return (authenticator, body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!);
    }

    /// <summary>The login session, its app login, ceremonies and the account's tokens and passkeys, as text.</summary>
    private static Task<string> LoginStateAsync(PortalAppFactory app, string sessionId) => app.WithDbAsync(async db =>
    {
        var session = await db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == sessionId);
        return System.Text.Json.JsonSerializer.Serialize(new
        {
            Session = session,
            Login = await db.AppLogins.AsNoTracking().SingleAsync(l => l.SessionId == sessionId),
            Ceremonies = await db.PasskeyCeremonies.AsNoTracking().Where(c => c.LoginSessionId == sessionId).OrderBy(c => c.Id).ToListAsync(),
            Tokens = await db.AppTokens.AsNoTracking().Where(t => t.UserId == session.UserId).OrderBy(t => t.Id).ToListAsync(),
            Passkeys = await db.Passkeys.AsNoTracking().Where(p => p.UserId == session.UserId).OrderBy(p => p.Id).ToListAsync(),
        });
    });

    [Fact]
    public async Task Malformed_and_oversized_bodies_are_4xx_problems()
    {
        using var client = NewClient();
        var (_, authenticator, sessionId, secret, _) = await PendingPasskeyLoginAsync(client);

        using var malformed = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey")
        {
            Content = new StringContent("{ not json", System.Text.Encoding.UTF8, "application/json"),
        };
        malformed.Headers.Add("X-Session-Secret", secret);
        var malformedResponse = await client.Http.SendAsync(malformed);

        var badBase64 = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = new { id = "x", rawId = "%%%", type = "public-key", response = new { clientDataJSON = "%%%" } } });

        Assert.Equal(HttpStatusCode.BadRequest, malformedResponse.StatusCode);
        Assert.Equal("INVALID_REQUEST", await AppApiClient.ProblemCodeAsync(malformedResponse));
        Assert.Equal(HttpStatusCode.BadRequest, badBase64.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(badBase64));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Totp_through_the_api_follows_the_page_rules()
    {
        var totp = new TotpBench(App);
        var (userId, email) = await Bench.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(30));
        using var client = NewClient();
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var sessionSecret = body.GetProperty("sessionSecret").GetString()!;

        var before = await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId);

        var wrong = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.WrongCode(secret) });

        Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(wrong));
        // Counted (on the login and the account), and nothing else: no token, the authenticator's last step where it was.
        Assert.Equal(before, await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId));
        Assert.Equal(1, (await Bench.SessionAsync(sessionId)).FailedAttempts);

        var right = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.CodeAt(secret, TimeSpan.Zero) });

        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.True((await AppApiClient.JsonAsync(right)).TryGetProperty("token", out _));
    }

    [Fact]
    public async Task Wrong_codes_through_the_api_close_the_login_at_its_limit_and_change_nothing_else()
    {
        var totp = new TotpBench(App);
        var (userId, email) = await Bench.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(30));
        using var client = NewClient();
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var sessionSecret = body.GetProperty("sessionSecret").GetString()!;
        var before = await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId);
        var wrong = totp.WrongCode(secret);
        Task<HttpResponseMessage> SendAsync(string code) =>
            client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code });

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var refused = await SendAsync(wrong);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(refused));
            Assert.Equal(attempt, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        }

        var last = await SendAsync(wrong);

        // The fifth wrong code ends the login: the app must start again with the password.
        Assert.Equal(HttpStatusCode.Gone, last.StatusCode);
        Assert.Equal("SESSION_EXPIRED", await AppApiClient.ProblemCodeAsync(last));
        Assert.Equal(TwoFactorMessages.TooManyAttempts, (await AppApiClient.JsonAsync(last)).GetProperty("title").GetString());
        var closed = await Bench.SessionAsync(sessionId);
        Assert.Equal(LoginSessionState.Failed, closed.State);
        Assert.Equal(5, closed.FailedAttempts);
        Assert.Equal(before, await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId, withoutState: true));
        var right = await SendAsync(totp.CodeAt(secret, TimeSpan.Zero));
        Assert.Equal(HttpStatusCode.Gone, right.StatusCode);
        Assert.Equal("SESSION_EXPIRED", await AppApiClient.ProblemCodeAsync(right));
        Assert.Equal(before, await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId, withoutState: true));
    }

    [Fact]
    public async Task A_passkey_account_cannot_use_the_totp_endpoint()
    {
        var totp = new TotpBench(App);
        var (userId, email) = await Bench.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        using var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        App.Time.Advance(TimeSpan.FromSeconds(30));
        using var client = NewClient();
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));

        var response = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{body.GetProperty("sessionId").GetString()}/totp",
            body.GetProperty("sessionSecret").GetString(), new { code = totp.CodeAt(secret, TimeSpan.Zero) });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("PASSKEY_REQUIRED", await AppApiClient.ProblemCodeAsync(response));
    }

    [Fact]
    public async Task The_api_is_described_by_openapi()
    {
        using var client = NewClient();

        var document = await AppApiClient.JsonAsync(await client.Http.GetAsync("/openapi/v1.json"));

        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/login", "/api/v1/login/{sessionId}", "/api/v1/login/{sessionId}/token", "/api/v1/login/{sessionId}/passkey/options",
            "/api/v1/login/{sessionId}/passkey", "/api/v1/login/{sessionId}/totp", "/api/v1/me", "/api/v1/tokens/current" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path);
        }
    }
}

public sealed class AppApiRateLimitTests
{
    [Fact]
    public async Task Oversized_bodies_are_refused_with_413_before_they_are_read()
    {
        // On a real socket: Kestrel enforces the endpoints' body size limit (the in-memory server does not).
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        using var http = new HttpClient { BaseAddress = app.ServerAddress };

        var response = await http.PostAsync("/api/v1/login", new StringContent(
            "{\"email\":\"" + new string('a', 64 * 1024) + "\"}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("PAYLOAD_TOO_LARGE", await AppApiClient.ProblemCodeAsync(response));
    }

    [Fact]
    public async Task Too_many_requests_from_one_ip_get_429_with_retry_after()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).WithSetting("RateLimits:RequestsPerMinutePerIp", "3");
        using var client = new AppApiClient(app.CreatePortalClient());

        var responses = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            responses.Add(await client.LogInAsync(PortalScenario.NewEmail(), "whatever"));
        }

        Assert.All(responses.Take(3), r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
        Assert.Equal(HttpStatusCode.TooManyRequests, responses[3].StatusCode);
        Assert.Equal("RATE_LIMITED", await AppApiClient.ProblemCodeAsync(responses[3]));
        Assert.NotNull(responses[3].Headers.RetryAfter);
    }

    [Fact]
    public async Task Too_many_attempts_for_one_account_get_429()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).WithSetting("RateLimits:AttemptsPerMinutePerAccount", "2");
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());

        await client.LogInAsync(email, "wrong 1");
        await client.LogInAsync(email, "wrong 2");
        var third = await client.LogInAsync(email);
        var otherAccount = await client.LogInAsync(PortalScenario.NewEmail(), "whatever");

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        Assert.Equal("RATE_LIMITED", await AppApiClient.ProblemCodeAsync(third));
        Assert.Equal(HttpStatusCode.Unauthorized, otherAccount.StatusCode);
    }
}

public sealed class ReverseProxyTests
{
    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    public async Task Behind_a_trusted_proxy_the_sign_in_cookie_follows_the_forwarded_scheme(string enabled, bool secure)
    {
        using var app = new PortalAppFactory().WithSetting("ReverseProxy:Enabled", enabled).StartKestrel();
        var handler = new Microsoft.AspNetCore.Mvc.Testing.Handlers.CookieContainerHandler(new CookieContainer())
        {
            InnerHandler = new ForwardedByProxy { ShowsCookiesToAJar = true, InnerHandler = new SocketsHttpHandler { AllowAutoRedirect = false } },
        };
        using var http = new HttpClient(handler) { BaseAddress = app.ServerAddress };

        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var response = await http.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
        });

        // Login signs in through the completion endpoint, which sets the cookie. The pending-login cookie
        // may be Secure, which a client on plain http would not send back: send it as the proxy would.
        Assert.True(response.IsRedirect());
        var pendingName = (secure ? "__Host-" : "") + PendingLoginCookie.Name;
        var pending = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(pendingName + "=", StringComparison.Ordinal));
        using var completion = new HttpClient(new ForwardedByProxy { InnerHandler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false } })
        {
            BaseAddress = app.ServerAddress,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, response.LocationPath());
        request.Headers.Add("Cookie", pending.Split(';')[0]);
        response = await completion.SendAsync(request);
        var authCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("AccountsPortal.Auth=", StringComparison.Ordinal));
        Assert.Equal(secure, authCookie.Contains("; secure", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// What nginx in front of the portal adds: the client's scheme and address. The browser's side of the proxy
    /// is https, so it sends Secure cookies back: the cookie jar behind this handler is shown them without the flag.
    /// </summary>
    private sealed class ForwardedByProxy : DelegatingHandler
    {
        /// <summary>Set for the handler in front of a cookie jar (which would keep Secure cookies from plain http).</summary>
        public bool ShowsCookiesToAJar { get; init; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Add("X-Forwarded-Proto", "https");
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");
            var response = await base.SendAsync(request, cancellationToken);
            if (ShowsCookiesToAJar && response.Headers.TryGetValues("Set-Cookie", out var cookies))
            {
                var plain = cookies.Select(c => System.Text.RegularExpressions.Regex.Replace(c, "; secure", "", System.Text.RegularExpressions.RegexOptions.IgnoreCase)).ToList();
                response.Headers.Remove("Set-Cookie");
                response.Headers.Add("Set-Cookie", plain);
            }

            return response;
        }
    }
}
