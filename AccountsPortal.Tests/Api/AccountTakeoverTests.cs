using System.Net;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>What someone holding only the password gets: real parallel requests to Kestrel, outcomes counted.</summary>
public sealed class AccountTakeoverTests
{
    private static async Task<List<SecurityEventKind>> KindsAsync(PortalAppFactory app, string userId) =>
        await app.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == userId).OrderBy(e => e.Id).Select(e => e.Kind).ToListAsync());

    [Fact]
    public async Task Twenty_four_parallel_logins_never_evaluate_more_wrong_passwords_than_the_limit_and_never_answer_500()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        var (userId, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var http = new HttpClient { BaseAddress = app.ServerAddress };
        var client = new AppApiClient(http);

        // 23 wrong passwords and the right one 10th, all at once.
        var passwords = Enumerable.Range(0, 24).Select(i => i == 9 ? PortalScenario.StrongPassword : $"wrong password {i}").ToArray();
        var responses = await Task.WhenAll(passwords.Select(password => Task.Run(() => client.LogInAsync(email, password))));
        var statuses = responses.Select(r => (int)r.StatusCode).ToList();

        Assert.DoesNotContain(500, statuses);
        Assert.All(statuses, status => Assert.Contains(status, new[] { 200, 401, 423 }));
        var kinds = await KindsAsync(app, userId);
        var evaluatedWrong = kinds.Count(k => k == SecurityEventKind.PasswordRejected);
        // The right password in the middle gives no wrong guess back: at most five per window, whatever succeeds.
        Assert.InRange(evaluatedWrong, 1, 5);
        // Every attempt is on record: evaluated and refused, wrong or (if it came too late) right.
        var signedIn = statuses.Count(s => s == 200);
        Assert.Equal(24, evaluatedWrong + kinds.Count(k => k == SecurityEventKind.SignInRefusedWhileLocked) + signedIn);
        Assert.InRange(signedIn, 0, 1);
        var counter = await app.WithDbAsync(db => db.AttemptCounters.SingleAsync(c => c.Key == AttemptLimits.PasswordKey(email.ToUpperInvariant())));
        Assert.InRange(counter.Failures, 0, 5);
    }

    [Fact]
    public async Task Parallel_form_posts_lock_the_account_and_answer_no_500()
    {
        using var app = new PortalAppFactory().StartKestrel();
        var (userId, email) = await new PasskeyBench(app).CreateAccountAsync();
        var people = Enumerable.Range(0, 12).Select(_ => new PortalScenario(app)).ToList();

        var responses = await Task.WhenAll(people.Select((person, i) => Task.Run(() => person.LogInAsync(email, $"wrong password {i}"))));

        Assert.DoesNotContain(responses, r => (int)r.StatusCode >= 500);
        var kinds = await KindsAsync(app, userId);
        Assert.Equal(5, kinds.Count(k => k == SecurityEventKind.PasswordRejected));
        Assert.Equal(7, kinds.Count(k => k == SecurityEventKind.SignInRefusedWhileLocked));
        Assert.Single(kinds, k => k == SecurityEventKind.AccountLockedOut);
        people.ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task An_unknown_email_gets_the_same_answers_as_a_known_one_lockout_included()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());

        async Task<List<string>> SixWrongAsync(string address)
        {
            var answers = new List<string>();
            for (var i = 0; i < 6; i++)
            {
                var response = await client.LogInAsync(address, "not the password");
                answers.Add($"{(int)response.StatusCode} {await AppApiClient.ProblemCodeAsync(response)} retry-after:{response.Headers.RetryAfter is not null}");
            }

            return answers;
        }

        var known = await SixWrongAsync(email);
        var unknown = await SixWrongAsync(PortalScenario.NewEmail());

        Assert.Equal(known, unknown);
        Assert.Equal("423 ACCOUNT_LOCKED retry-after:True", known[^1]);
    }

    [Fact]
    public async Task The_per_account_limit_keys_the_email_as_the_account_lookup_does()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).WithSetting("RateLimits:AttemptsPerMinutePerAccount", "2");
        var email = $"kate-{Guid.NewGuid():N}@example.test";
        await new PasskeyBench(app).WithAsync(async s =>
        {
            var users = s.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<PortalUser>>();
            return await users.CreateAsync(new PortalUser { UserName = email, Email = email, EmailConfirmed = true }, PortalScenario.StrongPassword);
        });
        using var client = new AppApiClient(app.CreatePortalClient());

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.LogInAsync(email, "wrong one")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.LogInAsync(email, "wrong two")).StatusCode);
        // KELVIN SIGN for "k": the account lookup finds kate, so the limiter must count it as kate.
        var kelvin = await client.LogInAsync("\u212A" + email[1..], PortalScenario.StrongPassword);

        Assert.Equal(HttpStatusCode.TooManyRequests, kelvin.StatusCode);
        Assert.Equal("RATE_LIMITED", await AppApiClient.ProblemCodeAsync(kelvin));
    }

    [Fact]
    public async Task Adding_a_passkey_ends_every_other_browser_and_app_but_keeps_this_browser()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        using var here = new PortalScenario(app);
        using var elsewhere = new PortalScenario(app);
        await here.FollowAsync(await here.LogInAsync(email));
        await elsewhere.FollowAsync(await elsewhere.LogInAsync(email));
        using var appClient = new AppApiClient(app.CreatePortalClient());
        var token = (await AppApiClient.JsonAsync(await appClient.LogInAsync(email))).GetProperty("token").GetString()!;
        var sessions = await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).ToListAsync());
        Assert.Equal(2, sessions.Count);
        var keep = await CurrentSessionAsync(app, here);

        using var authenticator = bench.NewAuthenticator();
        var start = await bench.BeginRegistrationAsync(userId);
        var added = await bench.WithAsync(s => s.GetRequiredService<PasskeyRegistration>()
            .CompleteAsync(userId, start.CeremonyId!, "Phone", authenticator.CreateCredential(start.OptionsJson!), keep));

        Assert.True(added.Succeeded, added.Error);
        Assert.Equal(HttpStatusCode.OK, (await here.Http.GetAsync("/account")).StatusCode);
        Assert.True((await elsewhere.Http.GetAsync("/account")).IsRedirect());
        Assert.Equal(HttpStatusCode.Unauthorized, (await appClient.MeAsync(token)).StatusCode);
        Assert.Equal([keep], await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).ToListAsync()));
        Assert.Contains(SecurityEventKind.OtherSessionsEnded, await KindsAsync(app, userId));
    }

    [Theory]
    [InlineData("recovery key used")]
    [InlineData("authenticator app turned off")]
    public async Task Using_the_recovery_key_or_turning_the_app_off_ends_every_other_browser_and_app(string change)
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        var totp = new TotpBench(app);
        var email = PortalScenario.NewEmail();
        string[] words;
        using (var signUp = new PortalScenario(app))
        {
            words = await signUp.SignUpAndReadRecoveryKeyAsync(email);
        }

        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        var secret = await totp.EnableAsync(userId);
        using var here = new PortalScenario(app);
        using var elsewhere = new PortalScenario(app);
        await SignInWithCodeAsync(app, totp, secret, here, email);
        await SignInWithCodeAsync(app, totp, secret, elsewhere, email);
        app.Time.Advance(TimeSpan.FromSeconds(30));
        using var appClient = new AppApiClient(app.CreatePortalClient());
        var pending = await AppApiClient.JsonAsync(await appClient.LogInAsync(email));
        var verified = await appClient.SendAsync(
            HttpMethod.Post, $"/api/v1/login/{pending.GetProperty("sessionId").GetString()}/totp", pending.GetProperty("sessionSecret").GetString(),
            new { code = totp.CodeAt(secret, TimeSpan.Zero) });
        var token = (await AppApiClient.JsonAsync(verified)).GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await appClient.MeAsync(token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await elsewhere.Http.GetAsync("/account")).StatusCode);
        var keep = await CurrentSessionAsync(app, here);

        using var recovering = new PortalScenario(app);
        var stays = here;
        if (change == "recovery key used")
        {
            // A third browser, which knows the password and the recovery key, recovers two-factor.
            var sessionId = SessionIdOf((await recovering.LogInAsync(email)).LocationPath());
            var recovered = await totp.Passkeys.WithAsync(s => s.GetRequiredService<TwoFactorRecovery>()
                .RecoverAsync(sessionId, new LoginProof(recovering.PendingLoginSecret, null), string.Join(' ', words)));
            Assert.True(recovered.Succeeded, recovered.Error);
            await recovering.FollowAsync(await recovering.Http.GetAsync(LoginSessionService.CompletionUrl(sessionId)));
            stays = recovering;
            keep = await CurrentSessionAsync(app, recovering);
            Assert.True((await here.Http.GetAsync("/account")).IsRedirect());
        }
        else
        {
            Assert.Null(await totp.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, keep)));
        }

        Assert.Equal(HttpStatusCode.OK, (await stays.Http.GetAsync("/account")).StatusCode);
        Assert.True((await elsewhere.Http.GetAsync("/account")).IsRedirect());
        Assert.Equal(HttpStatusCode.Unauthorized, (await appClient.MeAsync(token)).StatusCode);
        Assert.Equal([keep], await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).ToListAsync()));
        Assert.Contains(change, await app.WithDbAsync(db => db.SecurityEvents
            .Where(e => e.UserId == userId && e.Kind == SecurityEventKind.OtherSessionsEnded).Select(e => e.Detail).ToListAsync()));
    }

    private static string SessionIdOf(string verifyPath) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(new Uri("http://localhost"), verifyPath).Query)["session"].ToString();

    /// <summary>
    /// The password step in <paramref name="person"/>'s browser, then a fresh code from the authenticator app sent
    /// to the service the code page calls with what that browser holds, then the completion link.
    /// </summary>
    private static async Task SignInWithCodeAsync(PortalAppFactory app, TotpBench totp, byte[] secret, PortalScenario person, string email)
    {
        app.Time.Advance(TimeSpan.FromSeconds(30));
        var verifyPath = (await person.LogInAsync(email)).LocationPath();
        Assert.StartsWith("/two-factor/verify", verifyPath);
        var sessionId = SessionIdOf(verifyPath);
        var result = await totp.Passkeys.WithAsync(s => s.GetRequiredService<TotpLogin>()
            .VerifyAsync(sessionId, totp.CodeAt(secret, TimeSpan.Zero), new LoginProof(person.PendingLoginSecret, null)));
        Assert.True(result.Succeeded, result.Error);
        await person.FollowAsync(await person.Http.GetAsync(LoginSessionService.CompletionUrl(sessionId)));
        Assert.NotNull(person.AuthCookie);
    }

    [Fact]
    public async Task A_login_verified_before_a_factor_was_added_cannot_complete()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        using var attacker = new PortalScenario(app);
        var passwordStep = await attacker.LogInAsync(email);
        var completion = passwordStep.LocationPath();
        Assert.StartsWith(LoginSessionService.CompletionPath, completion);

        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);

        var completed = await attacker.Http.GetAsync(completion);
        Assert.Equal(LoginPage.ExpiredSessionUrl, completed.LocationPath());
        Assert.Null(attacker.AuthCookie);
        // Only the browser that added the passkey is signed in.
        Assert.Single(await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).ToListAsync()));
    }

    [Fact]
    public async Task Signing_in_as_another_account_gets_a_new_browser_session_row()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var (first, firstEmail) = await bench.CreateAccountAsync();
        var (second, secondEmail) = await bench.CreateAccountAsync();
        using var browser = new PortalScenario(app);
        await browser.FollowAsync(await browser.LogInAsync(firstEmail));
        var firstKey = await CurrentSessionAsync(app, browser);

        await browser.FollowAsync(await browser.LogInAsync(secondEmail));

        Assert.Empty(await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == first).ToListAsync()));
        var rows = await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == second).Select(s => s.Id).ToListAsync());
        Assert.Single(rows);
        Assert.NotEqual(firstKey, rows[0]);
        Assert.Equal(HttpStatusCode.OK, (await browser.Http.GetAsync("/account")).StatusCode);
    }

    [Fact]
    public async Task A_non_ascii_return_url_lands_on_the_account_page_instead_of_burning_the_login()
    {
        using var app = new PortalAppFactory().StartKestrel();
        var (userId, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var person = new PortalScenario(app);

        // Over Kestrel, which refuses a raw non-ASCII Location header (the in-memory server does not).
        var (final, _) = await person.FollowAsync(await person.LogInAsync(email, returnUrl: "/\u00e9t\u00e9"));

        Assert.Equal(HttpStatusCode.OK, final.StatusCode);
        Assert.Equal("/account", final.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Contains(email, await final.Content.ReadAsStringAsync());
        Assert.Single(await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).ToListAsync()));
    }

    [Fact]
    public async Task A_passkey_added_while_the_password_step_runs_keeps_that_login_from_completing()
    {
        using var baseApp = new PortalAppFactory();
        using var app = baseApp.WithWebHostBuilder(host => host.ConfigureServices(services => services.AddScoped<ISecondFactor, EnrolsWhileAsked>()));
        var bench = new PasskeyBench(baseApp);
        string userId;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<PortalUser>>();
            var email = PortalScenario.NewEmail();
            var user = new PortalUser { UserName = email, Email = email, EmailConfirmed = true };
            Assert.True((await users.CreateAsync(user, PortalScenario.StrongPassword)).Succeeded);
            userId = user.Id;
        }

        using var authenticator = bench.NewAuthenticator();
        EnrolsWhileAsked.Target = (userId, authenticator);
        StartedLogin started;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            started = await scope.ServiceProvider.GetRequiredService<LoginSessionService>().StartAsync(userId, null);
        }

        await using (var scope = app.Services.CreateAsyncScope())
        {
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<Data.PortalDbContext>().Passkeys.CountAsync(p => p.UserId == userId));
            var consumed = await scope.ServiceProvider.GetRequiredService<LoginSessionService>().ConsumeAsync(started.SessionId, started.BrowserSecret);
            Assert.False(consumed.Succeeded);
        }
    }

    /// <summary>
    /// The last factor a login asks about, which plays the owner finishing a passkey at that very moment:
    /// after the real factors said "none", it adds a passkey (and so rotates the stamp) in its own scope.
    /// </summary>
    private sealed class EnrolsWhileAsked(IServiceScopeFactory scopes) : ISecondFactor
    {
        public static (string UserId, SoftwareAuthenticator Authenticator)? Target;

        public string Name => "enrols-while-asked";

        public string DisplayName => Name;

        public int Precedence => int.MinValue;

        public string VerifyPath(string loginSessionId) => "/";

        public async Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken)
        {
            if (Target is { } target && target.UserId == userId)
            {
                Target = null;
                await using var scope = scopes.CreateAsyncScope();
                var registration = scope.ServiceProvider.GetRequiredService<PasskeyRegistration>();
                var start = await registration.BeginAsync(userId, cancellationToken);
                var browser = await PasskeyBench.SignedInBrowserAsync(scope.ServiceProvider, userId);
                var added = await registration.CompleteAsync(userId, start.CeremonyId!, "Phone", target.Authenticator.CreateCredential(start.OptionsJson!), browser, cancellationToken);
                Assert.True(added.Succeeded, added.Error);
            }

            return false;
        }
    }

    /// <summary>The browser session id a signed-in scenario's cookie carries (the cookie holds only this key).</summary>
    private static Task<string> CurrentSessionAsync(PortalAppFactory app, PortalScenario person)
    {
        var cookieOptions = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>>()
            .Get(Microsoft.AspNetCore.Identity.IdentityConstants.ApplicationScheme);
        var ticket = cookieOptions.TicketDataFormat.Unprotect(person.AuthCookie) ?? throw new InvalidOperationException("Not signed in.");
        // The cookie holds the session's key; the database keeps the browser session id made from it.
        var key = ticket.Principal.FindFirst("Microsoft.AspNetCore.Authentication.Cookies-SessionId")!.Value;
        return Task.FromResult(Features.Accounts.Sessions.BrowserSessionStore.SessionIdOf(key));
    }
}
