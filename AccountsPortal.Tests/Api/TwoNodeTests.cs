using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// Two portal nodes on two loopback ports over one PostgreSQL database, as two servers behind a load balancer: each
/// its own process memory (services, caches, per-IP limits, Data Protection's cached key ring), both on the real
/// clock. Each accepts the other's origin for passkeys, as nodes behind one public origin all see that one origin.
/// </summary>
public sealed class TwoNodes : IDisposable
{
    public TwoNodes()
        : this(new Dictionary<string, string>())
    {
    }

    /// <summary>Two nodes whose configuration differs from the fixture's.</summary>
    /// <param name="settings">Configuration both nodes get, on top of the tests' defaults.</param>
    public static TwoNodes With(IReadOnlyDictionary<string, string> settings) => new(settings);

    private TwoNodes(IReadOnlyDictionary<string, string> settings)
    {
        A = Configure(PortalAppFactory.WithSystemClock(DatabaseProvider.Postgres), settings).ReservePort();
        B = Configure(PortalAppFactory.NodeSharingDatabaseWith(A), settings).ReservePort();
        A.WithSetting("Passkeys:Origins:1", B.Origin);
        B.WithSetting("Passkeys:Origins:1", A.Origin);
        // One pickup folder, as one mail relay: either node's outbox worker may send a message the other queued.
        B.WithSetting("Email:PickupDirectory", A.MailDirectory);
        A.StartKestrel();
        B.StartKestrel();
    }

    public PortalAppFactory A { get; }

    public PortalAppFactory B { get; }

    private static PortalAppFactory Configure(PortalAppFactory node, IReadOnlyDictionary<string, string> settings)
    {
        AppApiClient.Configure(node).WithSetting("Database:BusyTimeoutMilliseconds", "60000");
        foreach (var (key, value) in settings)
        {
            node.WithSetting(key, value);
        }

        return node;
    }

    public void Dispose()
    {
        B.Dispose();
        A.Dispose();
    }
}

/// <summary>What a user meets when every request may land on either node: nothing lives in one node's memory.</summary>
public sealed class TwoNodeTests(TwoNodes nodes) : IClassFixture<TwoNodes>
{
    private PortalAppFactory A => nodes.A;

    private PortalAppFactory B => nodes.B;

    private static AppApiClient Api(PortalAppFactory node) => new(node.CreatePortalClient());

    /// <summary>An account with a passkey registered through node A's services; its authenticator speaks for A's origin.</summary>
    private async Task<(string UserId, string Email, SoftwareAuthenticator Authenticator)> AccountWithPasskeyAsync()
    {
        var bench = new PasskeyBench(A);
        var (userId, email) = await bench.CreateAccountAsync();
        var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        return (userId, email, authenticator);
    }

    private static async Task<(string SessionId, string Secret)> StartAppLoginAsync(AppApiClient api, string email)
    {
        var response = await api.LogInAsync(email);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await AppApiClient.JsonAsync(response);
        return (body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!);
    }

    [Fact]
    public async Task A_passkey_registration_begun_on_one_node_finishes_on_the_other()
    {
        var onA = new PasskeyBench(A);
        var onB = new PasskeyBench(B);
        var userId = await onA.CreateUserAsync();
        using var authenticator = onA.NewAuthenticator();

        var start = await onA.BeginRegistrationAsync(userId);
        Assert.True(start.Succeeded, start.Error);
        var outcome = await onB.CompleteRegistrationAsync(userId, start.CeremonyId!, "Laptop", authenticator.CreateCredential(start.OptionsJson!));

        Assert.True(outcome.Succeeded, outcome.Error);
        Assert.Equal("Laptop", Assert.Single(await onA.PasskeysAsync(userId)).Name);
        // The ceremony was used up by B: a second answer to it is refused on A.
        var again = await onA.CompleteRegistrationAsync(userId, start.CeremonyId!, "Again", authenticator.CreateCredential(start.OptionsJson!));
        Assert.False(again.Succeeded);
        Assert.Single(await onB.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_login_started_on_one_node_is_verified_on_the_other_and_its_token_works_on_the_first()
    {
        var (userId, email, authenticator) = await AccountWithPasskeyAsync();
        using var apiA = Api(A);
        using var apiB = Api(B);

        var (sessionId, secret) = await StartAppLoginAsync(apiA, email);
        var options = await apiB.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret);
        Assert.Equal(HttpStatusCode.OK, options.StatusCode);
        var assertion = authenticator.GetAssertion(await options.Content.ReadAsStringAsync());
        var verified = await apiB.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, new { credential = JsonDocument.Parse(assertion).RootElement });
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        var token = (await AppApiClient.JsonAsync(verified)).GetProperty("token").GetString()!;

        var me = await apiA.MeAsync(token);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(userId, (await AppApiClient.JsonAsync(me)).GetProperty("id").GetString());
        // A's view of the login is B's: verified and claimed, so polling it on A hands out nothing more.
        Assert.Equal(LoginSessionState.Verified, (await new PasskeyBench(A).SessionAsync(sessionId)).State);
        var status = await apiA.StatusAsync(sessionId, secret);
        Assert.NotEqual(HttpStatusCode.OK, status.StatusCode);
    }

    [Fact]
    public async Task A_browser_signed_in_on_one_node_is_signed_in_on_the_other()
    {
        // One browser: one cookie jar for the site, whichever node answers (cookies name the host, not the port).
        var cookies = new CookieContainer();
        using var onA = Browser(A, cookies);
        using var onB = Browser(B, cookies);
        var email = PortalScenario.NewEmail();
        var signUp = await onA.SubmitAsync("/signup", "signup", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
            ["Input.ConfirmPassword"] = PortalScenario.StrongPassword,
        });
        Assert.Equal(HttpStatusCode.OK, signUp.StatusCode);
        // The code is entered on B: the verification A started is B's to check.
        var verified = await onB.SubmitAsync(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, "verify-email", new Dictionary<string, string>
        {
            ["Input.Code"] = await Mailbox.LatestCodeAsync(A, email),
        });
        Assert.Equal(24, PortalScenario.RecoveryKeyWords(await verified.ReadHtmlAsync()).Length);

        foreach (var node in new[] { onA, onB })
        {
            var account = await node.GetAsync("/account");
            Assert.Equal("/account", account.RequestMessage!.RequestUri!.AbsolutePath);
            Assert.Contains(email, await account.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var stranger = Browser(B, new CookieContainer());
        Assert.Equal("/login", (await stranger.GetAsync("/account")).RequestMessage!.RequestUri!.AbsolutePath);
    }

    /// <summary>A browser without JavaScript on <paramref name="node"/>: follows redirects, keeps cookies on every hop.</summary>
    private static HttpClient Browser(PortalAppFactory node, CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies, UseCookies = true, AllowAutoRedirect = true }) { BaseAddress = node.ServerAddress };

    [Fact]
    public async Task Concurrent_passkey_logins_over_both_nodes_use_every_challenge_once_and_only_move_counters_forward()
    {
        const int Accounts = 6;
        const int LoginsEach = 5;
        var accounts = await Task.WhenAll(Enumerable.Range(0, Accounts).Select(_ => AccountWithPasskeyAsync()));
        var outcomes = new ConcurrentBag<(string UserId, string SessionId, HttpStatusCode Status, string? Token)>();

        // Every account logs in again and again, its logins one after another (an authenticator signs in order); the
        // accounts run at once. Each login starts on one node and answers on the other.
        await Task.WhenAll(accounts.Select((account, index) => Task.Run(async () =>
        {
            using var apiA = Api(A);
            using var apiB = Api(B);
            for (var i = 0; i < LoginsEach; i++)
            {
                var (first, second) = (index + i) % 2 == 0 ? (apiA, apiB) : (apiB, apiA);
                var (sessionId, secret) = await StartAppLoginAsync(first, account.Email);
                var options = await first.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret);
                Assert.Equal(HttpStatusCode.OK, options.StatusCode);
                var assertion = account.Authenticator.GetAssertion(await options.Content.ReadAsStringAsync());
                var body = new { credential = JsonDocument.Parse(assertion).RootElement };
                // The same answer twice, once to each node, at the same moment: one of them verifies the login.
                var answers = await Task.WhenAll(
                    second.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, body),
                    first.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, body));
                foreach (var answer in answers)
                {
                    var token = answer.StatusCode == HttpStatusCode.OK ? (await AppApiClient.JsonAsync(answer)).GetProperty("token").GetString() : null;
                    outcomes.Add((account.UserId, sessionId, answer.StatusCode, token));
                }
            }
        })));

        Assert.DoesNotContain(outcomes, o => (int)o.Status >= 500);
        foreach (var login in outcomes.GroupBy(o => o.SessionId))
        {
            // The duplicate is refused, or (having lost the race to a verification that committed) collects the one
            // token the login has, as a repeated call after a lost answer does.
            Assert.Contains(login, o => o.Status == HttpStatusCode.OK);
            Assert.Single(login.Where(o => o.Token is not null).Select(o => o.Token).Distinct());
        }

        var bench = new PasskeyBench(A);
        foreach (var account in accounts)
        {
            var passkey = Assert.Single(await bench.PasskeysAsync(account.UserId));
            // One signature per login, each counted once, in order: the counter is the number of logins.
            Assert.Equal(LoginsEach, passkey.SignCount);
            Assert.False(passkey.PossiblyCloned);
        }

        var sessions = outcomes.Select(o => o.SessionId).Distinct().ToList();
        Assert.Equal(Accounts * LoginsEach, sessions.Count);
        var states = await A.WithDbAsync(db => db.LoginSessions.Where(s => sessions.Contains(s.Id)).Select(s => s.State).ToListAsync());
        Assert.All(states, state => Assert.Equal(LoginSessionState.Verified, state));
        var ceremonies = await A.WithDbAsync(db => db.PasskeyCeremonies.Where(c => c.LoginSessionId != null && sessions.Contains(c.LoginSessionId)).ToListAsync());
        Assert.Equal(sessions.Count, ceremonies.Count);
        Assert.All(ceremonies, c => Assert.NotNull(c.ConsumedAt));
        var userIds = accounts.Select(a => a.UserId).ToList();
        Assert.Equal(sessions.Count, await A.WithDbAsync(db => db.AppTokens.CountAsync(t => userIds.Contains(t.UserId))));
    }

    [Fact]
    public async Task A_lockout_reached_through_one_node_holds_on_the_other()
    {
        var bench = new TotpBench(A);
        var (userId, email) = await bench.Passkeys.CreateAccountAsync();
        var secret = await bench.EnableAsync(userId);
        using var apiA = Api(A);
        using var apiB = Api(B);

        // Ten wrong codes through A, over two logins of five tries each.
        for (var i = 0; i < 10; i++)
        {
            var (sessionId, sessionSecret) = await StartAppLoginAsync(apiA, email);
            for (var tries = 0; tries < 5 && i < 10; tries++, i++)
            {
                var wrong = await apiA.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = WrongCode(secret) });
                Assert.NotEqual(HttpStatusCode.OK, wrong.StatusCode);
            }

            i--;
        }

        var (onB, onBSecret) = await StartAppLoginAsync(apiB, email);
        var right = await apiB.SendAsync(HttpMethod.Post, $"/api/v1/login/{onB}/totp", onBSecret, new { code = Rfc6238.Code(secret, DateTimeOffset.UtcNow) });

        Assert.Equal((HttpStatusCode)423, right.StatusCode);
        Assert.Equal("ACCOUNT_LOCKED", await AppApiClient.ProblemCodeAsync(right));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await new PasskeyBench(B).SessionAsync(onB)).State);
    }

    [Fact]
    public async Task The_per_account_rate_limit_counts_attempts_on_both_nodes_together()
    {
        using var limited = TwoNodes.With(new Dictionary<string, string> { ["RateLimits:AttemptsPerMinutePerAccount"] = "4" });
        var bench = new TotpBench(limited.A);
        var (userId, email) = await bench.Passkeys.CreateAccountAsync();
        var secret = await bench.EnableAsync(userId);
        using var apiA = Api(limited.A);
        using var apiB = Api(limited.B);
        var (sessionId, sessionSecret) = await StartAppLoginAsync(apiA, email);

        // Four wrong codes, two through each node, use up the account's four attempts of this minute.
        foreach (var api in new[] { apiA, apiB, apiA, apiB })
        {
            var wrong = await api.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = WrongCode(secret) });
            Assert.Equal("INVALID_CODE", await AppApiClient.ProblemCodeAsync(wrong));
        }

        var windowBefore = await limited.A.WithDbAsync(db => db.RateWindows.AsNoTracking().SingleAsync(w => w.Key == "account:" + userId));
        var failuresBefore = await bench.FailuresAsync(userId);
        foreach (var api in new[] { apiA, apiB })
        {
            // Even the right code waits: the attempt is refused before it is looked at, on either node.
            var refused = await api.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = Rfc6238.Code(secret, DateTimeOffset.UtcNow) });
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal("RATE_LIMITED", await AppApiClient.ProblemCodeAsync(refused));
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        // The refusals changed nothing: not the window, not the account's failures, not the login.
        var windowAfter = await limited.A.WithDbAsync(db => db.RateWindows.AsNoTracking().SingleAsync(w => w.Key == "account:" + userId));
        Assert.Equal((4, windowBefore.WindowStart), (windowAfter.Count, windowAfter.WindowStart));
        Assert.Equal(failuresBefore, await bench.FailuresAsync(userId));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.Passkeys.SessionAsync(sessionId)).State);
    }

    private static string WrongCode(byte[] secret)
    {
        var now = DateTimeOffset.UtcNow;
        var near = new[] { -60, -30, 0, 30, 60 }.Select(offset => Rfc6238.Code(secret, now.AddSeconds(offset))).ToHashSet();
        for (var candidate = 0; ; candidate++)
        {
            var code = candidate.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
            if (!near.Contains(code))
            {
                return code;
            }
        }
    }
}
