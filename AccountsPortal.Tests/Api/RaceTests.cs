using AccountsPortal.Data;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>One portal on Kestrel for the race tests, on one provider's database.</summary>
public abstract class RaceFixture(DatabaseProvider provider) : IDisposable
{
    public DatabaseProvider Provider => provider;

    /// <summary>The fixture's portal on Kestrel.</summary>
    public PortalAppFactory App { get; } = NewApp(provider).StartKestrel();

    /// <summary>
    /// A portal with the test app registered, whose writers wait up to a minute for one another's locks: these tests
    /// count what a race lets through, not how fast a busy machine is (the default of 5 s is a speed, on a machine
    /// shared with other builds).
    /// </summary>
    public static PortalAppFactory NewApp(DatabaseProvider provider) => AppApiClient.Configure(PortalAppFactory.On(provider))
        .WithOidcClients()
        .WithSetting("Database:BusyTimeoutMilliseconds", "60000");

    public void Dispose()
    {
        App.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The race tests' portal on a SQLite file.</summary>
public sealed class SqliteRaceFixture() : RaceFixture(DatabaseProvider.Sqlite);

/// <summary>The race tests' portal on PostgreSQL.</summary>
public sealed class PostgresRaceFixture() : RaceFixture(DatabaseProvider.Postgres);

/// <summary>Every race test on SQLite: one writer at a time, transactions that take the file's lock as they begin.</summary>
public sealed class SqliteRaceTests(SqliteRaceFixture fixture) : RaceTests(fixture), IClassFixture<SqliteRaceFixture>;

/// <summary>Every race test on PostgreSQL: concurrent writers, READ COMMITTED, row locks.</summary>
public sealed class PostgresRaceTests(PostgresRaceFixture fixture) : RaceTests(fixture), IClassFixture<PostgresRaceFixture>;

/// <summary>
/// What the portal promises to do once, or at most so often, however many requests ask at the same moment:
/// <see cref="Simultaneous.Requests"/> real HTTP requests to Kestrel, released together, their outcomes counted
/// (exactly the promised successes, every other answer a clear 4xx, never a 5xx) and the database checked after.
/// </summary>
public abstract class RaceTests(RaceFixture fixture)
{
    private const int N = Simultaneous.Requests;

    private PortalAppFactory App => fixture.App;

    private PasskeyBench Bench => new(App);

    /// <summary>An account with a passkey, and its login through the API waiting for it (the bench holds the app's secret).</summary>
    private async Task<(string UserId, SoftwareAuthenticator Authenticator, string SessionId, string Secret)> AppLoginAwaitingPasskeyAsync(
        AppApiClient client, string? redirectUri = null)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        var (sessionId, secret) = await AppLoginAsync(client, email, redirectUri);
        return (userId, authenticator, sessionId, secret);
    }

    private async Task<(string SessionId, string Secret)> AppLoginAsync(AppApiClient client, string email, string? redirectUri = null)
    {
        var response = await client.LogInAsync(email, redirectUri: redirectUri);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await AppApiClient.JsonAsync(response);
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var secret = body.GetProperty("sessionSecret").GetString()!;
        Bench.Hold(sessionId, secret);
        return (sessionId, secret);
    }

    private Task<List<Features.Apps.AppToken>> TokensAsync(string userId) =>
        App.WithDbAsync(db => db.AppTokens.AsNoTracking().Where(t => t.UserId == userId).ToListAsync());

    private static void AssertNo5xx(IEnumerable<HttpResponseMessage> responses) =>
        Assert.All(responses, r => Assert.InRange((int)r.StatusCode, 200, 499));

    /// <summary>The problem codes of the responses, asserting that each is RFC 7807 problem details.</summary>
    private static async Task<List<string?>> ProblemCodesAsync(IEnumerable<HttpResponseMessage> responses)
    {
        var codes = new List<string?>();
        foreach (var response in responses)
        {
            codes.Add(await AppApiClient.ProblemCodeAsync(response));
        }

        return codes;
    }

    /// <summary>A signed-in browser of a new account, and an OpenID Connect code it got for the test SPA.</summary>
    private async Task<(string Code, string Verifier)> OidcCodeAsync()
    {
        var (_, email) = await Bench.CreateAccountAsync();
        using var browser = Simultaneous.Client(App, new CookieContainer());
        var login = await browser.SubmitAsync(
            "/login", "login", new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = PortalScenario.StrongPassword });
        var (_, signedIn, _) = await OidcTestClient.FollowAsync(browser, login.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);
        var (verifier, challenge) = OidcTestClient.Pkce();
        var (location, last, _) = await OidcTestClient.FollowAsync(browser, OidcTestClient.AuthorizeUrl(challenge));
        Assert.True(location is not null, $"{last.StatusCode} {await last.Content.ReadAsStringAsync()}");
        return (OidcTestClient.Query(location!, "code")!, verifier);
    }

    private static async Task AssertOnlyInvalidGrantAsync(IEnumerable<HttpResponseMessage> refused)
    {
        foreach (var response in refused)
        {
            Assert.Equal("invalid_grant", await OidcTestClient.ErrorAsync(response));
        }
    }

    [Fact]
    public async Task An_OpenID_Connect_code_redeemed_in_parallel_gives_tokens_once()
    {
        var (code, verifier) = await OidcCodeAsync();
        using var http = Simultaneous.Client(App);
        var responses = await Simultaneous.RunAsync(http, N, _ => OidcTestClient.RedeemAsync(http, code, verifier));
        AssertNo5xx(responses);
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        await AssertOnlyInvalidGrantAsync(responses.Where(r => r.StatusCode != HttpStatusCode.OK));
    }

    [Fact]
    public async Task A_refresh_token_sent_in_parallel_is_redeemed_once_and_its_reuse_ends_every_token_of_the_sign_in()
    {
        var (code, verifier) = await OidcCodeAsync();
        using var http = Simultaneous.Client(App);
        var tokens = await OidcTestClient.JsonAsync(await OidcTestClient.RedeemAsync(http, code, verifier));
        var refreshToken = tokens.GetProperty("refresh_token").GetString()!;

        var responses = await Simultaneous.RunAsync(http, N, _ => OidcTestClient.RefreshAsync(http, refreshToken));
        AssertNo5xx(responses);
        var winner = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        await AssertOnlyInvalidGrantAsync(responses.Where(r => r != winner));

        // Presented once more, the used token ends the family: what the winner got a moment ago dies with it.
        Assert.Equal("invalid_grant", await OidcTestClient.ErrorAsync(await OidcTestClient.RefreshAsync(http, refreshToken)));
        var issued = await OidcTestClient.JsonAsync(winner);
        Assert.Equal("invalid_grant", await OidcTestClient.ErrorAsync(await OidcTestClient.RefreshAsync(http, issued.GetProperty("refresh_token").GetString()!)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await OidcTestClient.UserInfoAsync(http, issued.GetProperty("access_token").GetString()!)).StatusCode);
    }

    [Fact]
    public async Task One_passkey_sign_in_answer_raced_signs_in_once_and_moves_the_counter_once()
    {
        var (userId, responses) = await RaceOneSignInAnswerAsync(countsSignatures: true);

        AssertNo5xx(responses);
        var signedIn = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        var refused = responses.Where(r => r != signedIn).ToList();
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
        Assert.All(await ProblemCodesAsync(refused), c => Assert.Equal("PASSKEY_NOT_VERIFIED", c));
        Assert.Single(await TokensAsync(userId));
        var passkey = Assert.Single(await Bench.PasskeysAsync(userId));
        Assert.Equal(1, passkey.SignCount);
        Assert.False(passkey.PossiblyCloned);
    }

    [Fact]
    public async Task The_one_time_code_is_exchanged_exactly_once_by_parallel_exchanges()
    {
        using var http = Simultaneous.Client(App);
        var client = new AppApiClient(http);
        var (userId, authenticator, sessionId, secret) = await AppLoginAwaitingPasskeyAsync(client, AppApiClient.HttpsRedirect);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);
        var returned = await http.GetAsync($"/apps/return?session={sessionId}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}");
        var code = System.Web.HttpUtility.ParseQueryString(returned.Headers.Location!.Query)["code"]!;

        var responses = await Simultaneous.RunAsync(http, N, _ => client.ExchangeAsync(sessionId, secret, code));

        AssertNo5xx(responses);
        var exchanged = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        var refused = responses.Where(r => r != exchanged).ToList();
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.Gone, r.StatusCode));
        Assert.All(await ProblemCodesAsync(refused), c => Assert.Equal("SESSION_ALREADY_CLAIMED", c));
        // One token exists, it is the one handed out, and it works.
        var token = (await AppApiClient.JsonAsync(exchanged)).GetProperty("token").GetString()!;
        Assert.Single(await TokensAsync(userId));
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync(token)).StatusCode);
        Assert.Null(await App.WithDbAsync(db => db.AppLogins.Where(l => l.SessionId == sessionId).Select(l => l.CodeHash).SingleAsync()));
        authenticator.Dispose();
    }

    [Fact]
    public async Task Parallel_polls_hand_the_token_out_at_most_twice()
    {
        using var http = Simultaneous.Client(App);
        var client = new AppApiClient(http);
        var (userId, authenticator, sessionId, secret) = await AppLoginAwaitingPasskeyAsync(client);
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var responses = await Simultaneous.RunAsync(http, N, _ => client.StatusAsync(sessionId, secret));

        AssertNo5xx(responses);
        var collected = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        Assert.Equal(2, collected.Count);
        var tokens = await Task.WhenAll(collected.Select(async r => (await AppApiClient.JsonAsync(r)).GetProperty("token").GetString()));
        Assert.Single(tokens.Distinct());
        var refused = responses.Except(collected).ToList();
        Assert.All(refused, r => Assert.Equal(HttpStatusCode.Gone, r.StatusCode));
        Assert.All(await ProblemCodesAsync(refused), c => Assert.Equal("SESSION_ALREADY_CLAIMED", c));
        Assert.Single(await TokensAsync(userId));
        var login = await App.WithDbAsync(db => db.AppLogins.AsNoTracking().SingleAsync(l => l.SessionId == sessionId));
        Assert.Null(login.ProtectedToken);
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync(tokens[0]!)).StatusCode);
        authenticator.Dispose();
    }

    /// <summary>Sends one passkey answer <see cref="N"/> times at once; returns the account, the session and the responses.</summary>
    private static async Task<(string UserId, string SessionId, HttpResponseMessage[] Responses)> RaceOneAnswerAsync(PortalAppFactory app)
    {
        var bench = new PasskeyBench(app);
        using var http = Simultaneous.Client(app);
        var client = new AppApiClient(http);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var body = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var secret = body.GetProperty("sessionSecret").GetString()!;
        var options = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
        var answer = JsonDocument.Parse(authenticator.GetAssertion(options)).RootElement;

        var responses = await Simultaneous.RunAsync(http, N, _ =>
            client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, new { credential = answer }));

        AssertNo5xx(responses);
        var refused = responses.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        // The ceremony was used up by the first: "request expired" (400), or the login was already over (410).
        Assert.All(refused, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.BadRequest, HttpStatusCode.Gone }));
        Assert.All(await ProblemCodesAsync(refused), c => Assert.Contains(c, new[] { "PASSKEY_NOT_VERIFIED", "SESSION_EXPIRED", "SESSION_ALREADY_CLAIMED" }));
        return (userId, sessionId, responses);
    }

    /// <summary>
    /// An account with a passkey (whose authenticator counts signatures or leaves its counter at 0), and one answer to one
    /// set of sign-in options, sent <see cref="N"/> times at once to <c>/api/v1/passkey-login</c>.
    /// </summary>
    private async Task<(string UserId, HttpResponseMessage[] Responses)> RaceOneSignInAnswerAsync(bool countsSignatures)
    {
        using var http = Simultaneous.Client(App);
        var (userId, _) = await Bench.CreateAccountAsync();
        using var authenticator = Bench.NewAuthenticator();
        authenticator.CountsSignatures = countsSignatures;
        await Bench.RegisterAsync(userId, authenticator);
        var options = await http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = AppApiClient.ClientId });
        var answer = JsonDocument.Parse(authenticator.GetAssertion(await options.Content.ReadAsStringAsync())).RootElement;
        var responses = await Simultaneous.RunAsync(http, N, _ =>
            http.PostAsJsonAsync("/api/v1/passkey-login", new { clientId = AppApiClient.ClientId, credential = answer }));
        return (userId, responses);
    }

    [Fact]
    public async Task One_sign_in_answer_of_a_passkey_that_never_counts_raced_signs_in_once()
    {
        // A synced passkey's counter stays 0, so no counter update can refuse the copies: only the challenge's recorded
        // use (one INSERT … ON CONFLICT DO NOTHING per challenge) does.
        var (userId, responses) = await RaceOneSignInAnswerAsync(countsSignatures: false);

        AssertNo5xx(responses);
        var signedIn = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.All(responses.Where(r => r != signedIn), r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
        Assert.Single(await TokensAsync(userId));
        Assert.Equal(0, Assert.Single(await Bench.PasskeysAsync(userId)).SignCount);
    }

    [Fact]
    public async Task One_passkey_answer_sent_in_parallel_verifies_the_login_once()
    {
        // Every duplicate is a refused attempt on the login; with the default limit (five) they may close the login
        // before the first answer is through (the next test). Here the limit is out of the way: this is about "once".
        using var app = RaceFixture.NewApp(fixture.Provider)
            .WithSetting("LoginSessions:MaxFailedAttempts", "1000")
            .StartKestrel();
        var bench = new PasskeyBench(app);

        var (userId, sessionId, responses) = await RaceOneAnswerAsync(app);

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        var passkey = Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Equal(1, passkey.SignCount);
        Assert.False(passkey.PossiblyCloned);
        Assert.Equal(LoginSessionState.Verified, (await bench.SessionAsync(sessionId)).State);
        Assert.Single(await app.WithDbAsync(db => db.AppTokens.Where(t => t.UserId == userId).ToListAsync()));
    }

    [Fact]
    public async Task One_passkey_answer_sent_in_parallel_with_the_default_limit_verifies_at_most_once_and_leaves_no_half()
    {
        var (userId, sessionId, responses) = await RaceOneAnswerAsync(App);

        // A duplicate arriving once the login is verified collects its token as polling would (the same token, at
        // most twice): the answers that succeeded carry at most one distinct token.
        var issued = new HashSet<string>();
        foreach (var response in responses.Where(r => r.StatusCode == HttpStatusCode.OK))
        {
            issued.Add((await AppApiClient.JsonAsync(response)).GetProperty("token").GetString()!);
        }

        var verified = issued.Count;
        Assert.InRange(verified, 0, 1);
        Assert.InRange(responses.Count(r => r.StatusCode == HttpStatusCode.OK), verified, 2 * verified);
        var passkey = Assert.Single(await Bench.PasskeysAsync(userId));
        var session = await Bench.SessionAsync(sessionId);
        var tokens = await TokensAsync(userId);
        if (verified == 1)
        {
            Assert.Equal((1, LoginSessionState.Verified, 1), (passkey.SignCount, session.State, tokens.Count));
        }
        else
        {
            // The duplicates' refusals reached the login's limit first: the login is closed, and the answer that was
            // being verified recorded nothing (its use and the verification are one transaction).
            Assert.Equal((0, LoginSessionState.Failed, 0), (passkey.SignCount, session.State, tokens.Count));
        }

        Assert.False(passkey.PossiblyCloned);
    }

    [Fact]
    public async Task Answers_with_rising_counters_raced_never_move_the_counter_backwards()
    {
        using var http = Simultaneous.Client(App);
        var client = new AppApiClient(http);
        var (userId, email) = await Bench.CreateAccountAsync();
        using var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        // N logins of one account, each answered in turn by the authenticator: counters 1, 2, … N.
        var answers = new List<(string SessionId, string Secret, uint Counter, JsonElement Answer)>();
        for (var i = 0; i < N; i++)
        {
            var (sessionId, secret) = await AppLoginAsync(client, email);
            var options = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
            var answer = JsonDocument.Parse(authenticator.GetAssertion(options)).RootElement;
            answers.Add((sessionId, secret, authenticator.Credentials[0].SignCount, answer));
        }

        Assert.Equal(Enumerable.Range(1, N).Select(i => (uint)i), answers.Select(a => a.Counter));

        var responses = await Simultaneous.RunAsync(http, N, i =>
            client.SendAsync(HttpMethod.Post, $"/api/v1/login/{answers[i].SessionId}/passkey", answers[i].Secret, new { credential = answers[i].Answer }));

        AssertNo5xx(responses);
        var accepted = Enumerable.Range(0, N).Where(i => responses[i].StatusCode == HttpStatusCode.OK).Select(i => answers[i].Counter).ToList();
        Assert.NotEmpty(accepted);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
        // The stored counter is the highest one accepted: no accepted answer (nor any refused one) set it lower.
        var passkey = Assert.Single(await Bench.PasskeysAsync(userId));
        Assert.Equal(accepted.Max(), (uint)passkey.SignCount);
        // Every accepted answer verified its own login and got its own token; the refused ones neither.
        Assert.Equal(accepted.Count, (await TokensAsync(userId)).Count);
        var verified = await App.WithDbAsync(db => db.LoginSessions.CountAsync(s => s.UserId == userId && s.State == LoginSessionState.Verified));
        Assert.Equal(accepted.Count, verified);
    }

    [Fact]
    public async Task The_same_code_from_parallel_app_logins_is_accepted_once()
    {
        using var http = Simultaneous.Client(App);
        var client = new AppApiClient(http);
        var totp = new TotpBench(App);
        var (userId, email) = await Bench.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(30));
        var logins = new List<(string SessionId, string Secret)>();
        for (var i = 0; i < N; i++)
        {
            logins.Add(await AppLoginAsync(client, email));
        }

        var code = totp.CodeAt(secret, TimeSpan.Zero);

        var responses = await Simultaneous.RunAsync(http, N, i =>
            client.SendAsync(HttpMethod.Post, $"/api/v1/login/{logins[i].SessionId}/totp", logins[i].Secret, new { code }));

        AssertNo5xx(responses);
        var accepted = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        var refused = responses.Where(r => r != accepted).ToList();
        // "Already used" counts as a wrong code: past ten the account refuses codes unread (423).
        Assert.All(await ProblemCodesAsync(refused), c => Assert.Contains(c, new[] { "INVALID_CODE", "ACCOUNT_LOCKED" }));
        Assert.Single(await TokensAsync(userId));
        Assert.Equal(1, await App.WithDbAsync(db => db.LoginSessions.CountAsync(s => s.UserId == userId && s.State == LoginSessionState.Verified)));
        Assert.Equal(Rfc6238.StepAt(App.Time.GetUtcNow()), await App.WithDbAsync(db => db.TotpAuthenticators.Where(t => t.UserId == userId).Select(t => t.LastAcceptedStep).SingleAsync()));
        // The lockout's books balance: every reserved attempt was either given back or counted as a failure.
        var counter = await App.WithDbAsync(db => db.AttemptCounters.AsNoTracking().SingleAsync(c => c.Key == AttemptLimits.SecondFactorKey(userId)));
        Assert.Equal(counter.Failures, counter.Reserved);
    }

    [Fact]
    public async Task Parallel_attempts_on_one_account_get_exactly_its_rate_limit_and_the_refusals_change_nothing()
    {
        using var app = RaceFixture.NewApp(fixture.Provider).WithSetting("RateLimits:AttemptsPerMinutePerAccount", "3").StartKestrel();
        using var http = Simultaneous.Client(app);
        var client = new AppApiClient(http);
        var (userId, email) = await new PasskeyBench(app).CreateAccountAsync();
        var before = await new PasskeyBench(app).AccountSnapshotAsync(userId);

        var responses = await Simultaneous.RunAsync(http, N, _ => client.LogInAsync(email, password: "not the password at all"));

        AssertNo5xx(responses);
        var codes = await ProblemCodesAsync(responses);
        // Three wrong passwords are looked at; every other attempt is refused unread, on its way in.
        Assert.Equal(3, codes.Count(c => c == "INVALID_CREDENTIALS"));
        Assert.Equal(N - 3, codes.Count(c => c == "RATE_LIMITED"));
        Assert.All(responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests), r => Assert.NotNull(r.Headers.RetryAfter));
        var normalized = email.ToUpperInvariant();
        var window = await app.WithDbAsync(db => db.RateWindows.AsNoTracking().SingleAsync(w => w.Key == "email:" + normalized));
        Assert.Equal(3, window.Count);
        Assert.Equal(before, await new PasskeyBench(app).AccountSnapshotAsync(userId));
    }

    [Fact]
    public async Task Parallel_wrong_codes_on_one_login_count_exactly_up_to_its_limit_and_close_it()
    {
        using var http = Simultaneous.Client(App);
        var client = new AppApiClient(http);
        var totp = new TotpBench(App);
        var (userId, email) = await Bench.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(30));
        var (sessionId, sessionSecret) = await AppLoginAsync(client, email);
        var before = await Bench.AccountSnapshotAsync(userId);
        var wrong = totp.WrongCode(secret);

        var responses = await Simultaneous.RunAsync(http, N, _ =>
            client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = wrong }));

        AssertNo5xx(responses);
        var codes = await ProblemCodesAsync(responses);
        Assert.All(codes, c => Assert.Contains(c, new[] { "INVALID_CODE", "SESSION_EXPIRED", "ACCOUNT_LOCKED" }));
        // At most four "wrong, try again": the fifth counted attempt closes the login, whatever runs alongside it.
        Assert.InRange(codes.Count(c => c == "INVALID_CODE"), 0, 4);
        var session = await Bench.SessionAsync(sessionId);
        Assert.Equal(LoginSessionState.Failed, session.State);
        Assert.Equal(5, session.FailedAttempts);
        Assert.InRange(await totp.FailuresAsync(userId), 5, 10);
        Assert.Equal(before, await Bench.AccountSnapshotAsync(userId));
        var right = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.CodeAt(secret, TimeSpan.Zero) });
        Assert.Equal(HttpStatusCode.Gone, right.StatusCode);
        Assert.Empty(await TokensAsync(userId));
    }

    [Fact]
    public async Task A_login_completes_once_among_parallel_completion_requests()
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var cookies = new CookieContainer();
        using var browser = Simultaneous.Client(App, cookies);
        var passwordStep = await browser.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
        });
        var completion = passwordStep.LocationPath();
        Assert.StartsWith(LoginSessionService.CompletionPath, completion);
        var sessionsBefore = await App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId));
        // Every request carries the pending-login cookie as the browser holds it now; none sees another's answer.
        using var tabs = Simultaneous.Client(App);
        tabs.DefaultRequestHeaders.Add("Cookie", cookies.GetCookieHeader(App.ServerAddress!));

        var responses = await Simultaneous.RunAsync(tabs, N, _ => tabs.GetAsync(completion));

        AssertNo5xx(responses);
        var signedIn = Assert.Single(responses, r => r.Headers.TryGetValues("Set-Cookie", out var set) && set.Any(c => c.StartsWith("AccountsPortal.Auth=", StringComparison.Ordinal)));
        Assert.Equal("/account", signedIn.LocationPath());
        Assert.All(responses.Where(r => r != signedIn), r => Assert.Equal(LoginPage.ExpiredSessionUrl, r.LocationPath()));
        Assert.Equal(sessionsBefore + 1, await App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));
    }

    [Fact]
    public async Task A_recovery_key_posted_in_parallel_recovers_once_and_leaves_the_lockout_balanced()
    {
        var recovery = new RecoveryBench(App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        var email = await App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        var cookies = new CookieContainer();
        using var browser = Simultaneous.Client(App, cookies);
        var verify = (await browser.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
        })).LocationPath();
        var recoverPath = verify.Replace("/passkeys/verify", "/two-factor/recover");
        var sessionId = System.Web.HttpUtility.ParseQueryString(new Uri(App.ServerAddress!, verify).Query)["session"]!;
        var page = await (await browser.GetAsync(recoverPath)).ReadHtmlAsync();
        var keyBefore = await App.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Where(k => k.UserId == userId).Select(k => k.KeyHash).SingleAsync());

        // The same form, double-clicked many times over: one browser, one antiforgery token.
        var responses = await Simultaneous.RunAsync(browser, N, _ =>
            browser.SubmitAsync(page, recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key }));

        AssertNo5xx(responses);
        var recovered = Assert.Single(responses, r => r.IsRedirect());
        Assert.StartsWith(LoginSessionService.CompletionPath, recovered.LocationPath());
        foreach (var refused in responses.Where(r => r != recovered))
        {
            if (refused.StatusCode == HttpStatusCode.BadRequest)
            {
                // Posted once the login was verified: the page no longer renders the form, and Blazor refuses a post
                // to a form it does not render.
                continue;
            }

            Assert.Equal(HttpStatusCode.OK, refused.StatusCode);
            var alert = (await refused.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim();
            // Lost the race at the key (it was just replaced), or found the login already verified. A key compared after
            // the winner replaced it is no longer the account's key: that counts as a wrong one, and ten lock.
            Assert.True(
                alert == TwoFactorMessages.IncorrectRecoveryKey || alert == TwoFactorMessages.LoginSessionExpired
                    || alert.StartsWith("Too many failed attempts. Try again in", StringComparison.Ordinal),
                alert);
        }

        Assert.Equal(LoginSessionState.Verified, (await Bench.SessionAsync(sessionId)).State);
        Assert.NotEqual(keyBefore, await App.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Where(k => k.UserId == userId).Select(k => k.KeyHash).SingleAsync()));
        Assert.Equal(1, await App.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == Features.Activity.SecurityEventKind.RecoveryKeyUsed)));
        // The lockout's books balance: every reserved attempt was either given back or counted as a failure; none is left
        // reserved for good (ten such would refuse the owner's codes and keys until the window ends).
        var counter = await App.WithDbAsync(db => db.AttemptCounters.AsNoTracking().SingleAsync(c => c.Key == AttemptLimits.SecondFactorKey(userId)));
        Assert.Equal(counter.Failures, counter.Reserved);
    }

    [Fact]
    public async Task Parallel_sign_ups_with_one_email_create_one_account_answer_alike_and_overwrite_nothing()
    {
        const int people = 16;
        var email = PortalScenario.NewEmail();
        var users = await App.WithDbAsync(db => db.Users.CountAsync());
        // Each person in a browser of their own, the form loaded, a password of their own.
        var browsers = Enumerable.Range(0, people).Select(_ => Simultaneous.Client(App, new CookieContainer())).ToList();
        var forms = new List<AngleSharp.Html.Dom.IHtmlDocument>();
        foreach (var browser in browsers)
        {
            forms.Add(await (await browser.GetAsync("/signup")).ReadHtmlAsync());
        }

        static string PasswordOf(int person) => $"{PortalScenario.StrongPassword} {person}";

        var responses = await Simultaneous.RunAsync(people, i => browsers[i].SubmitAsync(forms[i], "/signup", "signup", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PasswordOf(i),
            ["Input.ConfirmPassword"] = PasswordOf(i),
        }));

        AssertNo5xx(responses);
        Assert.All(responses, r => Assert.Equal(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, r.LocationPath()));
        Assert.Equal(users + 1, await App.WithDbAsync(db => db.Users.CountAsync()));
        Assert.Equal(1, await App.WithDbAsync(db => db.Users.CountAsync(u => u.Email == email)));
        // One person's password is the account's; nobody else's sign-up wrote over it.
        await using var scope = App.Services.CreateAsyncScope();
        var userManager = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<PortalUser>>();
        var account = (await userManager.FindByEmailAsync(email))!;
        var matching = new List<int>();
        for (var i = 0; i < people; i++)
        {
            if (await userManager.CheckPasswordAsync(account, PasswordOf(i)))
            {
                matching.Add(i);
            }
        }

        Assert.Single(matching);
        browsers.ForEach(b => b.Dispose());
    }
}
