using System.Buffers.Text;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AccountsPortal.Data;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Tests.Unit;

public sealed class ExpiredRowsCleanupTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Old_sessions_and_ceremonies_go_and_live_ones_stay(DatabaseProvider provider)
    {
        using var app = PortalAppFactory.On(provider);
        var bench = new PasskeyBench(app);
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var old = await bench.StartLoginAsync(userId);
        Assert.True((await bench.LogInAsync(old, authenticator)).Succeeded);
        Assert.Equal(1, await app.WithDbAsync(db => db.PasskeyCeremonies.CountAsync(c => c.LoginSessionId == old && c.ConsumedAt != null)));
        app.Time.Advance(ExpiredRowsCleanup.Retention + TimeSpan.FromHours(1));
        var live = await bench.StartLoginAsync(userId);

        // Moving the clock also wakes the hourly background run; either run may delete the rows.
        await app.Services.GetRequiredService<ExpiredRowsCleanup>().RunOnceAsync();

        Assert.Equal([live], await app.WithDbAsync(db => db.LoginSessions.Select(s => s.Id).ToListAsync()));
        Assert.Equal(0, await app.WithDbAsync(db => db.PasskeyCeremonies.CountAsync(c => c.LoginSessionId == old)));
        Assert.Single(await bench.PasskeysAsync(userId));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Uses_of_anonymous_sign_in_challenges_go_a_day_after_they_expire_and_account_ones_stay_for_the_retention(DatabaseProvider provider)
    {
        using var app = PortalAppFactory.On(provider);
        var bench = new PasskeyBench(app);
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var login = await bench.StartLoginAsync(userId);
        Assert.Equal(PasskeyMessages.Unreadable, (await bench.CompleteLoginAsync(login, (await bench.BeginLoginAsync(login)).CeremonyId, "{}")).Error);
        var old = await AnswerSignInAsync(bench);
        var lifetime = app.Services.GetRequiredService<IOptions<PasskeyOptions>>().Value.LoginChallengeLifetime;
        var cleanup = app.Services.GetRequiredService<ExpiredRowsCleanup>();

        // A minute before the first one's time, both uses stay: each must outlive what any node would still accept.
        app.Time.Advance(lifetime + ExpiredRowsCleanup.SignInUseRetention - TimeSpan.FromMinutes(1));
        var live = await AnswerSignInAsync(bench);
        await cleanup.RunOnceAsync();
        Assert.Equal(new[] { live, old }.Order(StringComparer.Ordinal), (await SignInUsesAsync(app)).Order(StringComparer.Ordinal));

        app.Time.Advance(TimeSpan.FromMinutes(2));
        await cleanup.RunOnceAsync();
        Assert.Equal([live], await SignInUsesAsync(app));
        Assert.Single(await app.WithDbAsync(db => db.PasskeyCeremonies.Where(c => c.Purpose == CeremonyPurpose.Login).ToListAsync()));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_sign_in_answer_is_not_replayed_on_a_node_whose_clock_lags_once_another_nodes_cleanup_ran(DatabaseProvider provider)
    {
        // Node B answers; node A, whose clock runs 70 minutes ahead, runs the cleanup over the same database.
        using var b = AppApiClient.Configure(PortalAppFactory.On(provider));
        using var a = AppApiClient.Configure(PortalAppFactory.NodeSharingDatabaseWith(b));
        a.Time.Advance(TimeSpan.FromMinutes(70));
        var bench = new PasskeyBench(b);
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        authenticator.CountsSignatures = false; // a synced passkey: its counter stays 0, so only the challenge stops a replay
        await bench.RegisterAsync(userId, authenticator);
        using var api = new AppApiClient(b.CreatePortalClient());
        var options = await api.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = AppApiClient.ClientId });
        var answer = authenticator.GetAssertion(await options.Content.ReadAsStringAsync());
        var body = new { clientId = AppApiClient.ClientId, credential = JsonDocument.Parse(answer).RootElement };
        Assert.Equal(HttpStatusCode.OK, (await api.Http.PostAsJsonAsync("/api/v1/passkey-login", body)).StatusCode);

        // A minute before the challenge expires by B's clock, A's cleanup runs (by A's, it expired over an hour ago).
        b.Time.Advance(TimeSpan.FromMinutes(2));
        a.Time.Advance(TimeSpan.FromMinutes(2));
        await a.Services.GetRequiredService<ExpiredRowsCleanup>().RunOnceAsync();
        var replayed = await api.Http.PostAsJsonAsync("/api/v1/passkey-login", body);

        Assert.Equal(HttpStatusCode.BadRequest, replayed.StatusCode);
        Assert.Equal(1, await b.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
    }

    /// <summary>Asks for sign-in options and answers them with something unreadable: the challenge's use is recorded.</summary>
    private static async Task<string> AnswerSignInAsync(PasskeyBench bench)
    {
        var start = await bench.WithAsync(s => s.GetRequiredService<PasskeyAssertions>().BeginSignInAsync(null));
        var result = await bench.WithAsync(s => s.GetRequiredService<PasskeySignIn>()
            .CompleteAsync(null, start.CeremonyId, "{}", IPAddress.Loopback, (_, _) => Task.FromResult(true)));
        Assert.Equal(PasskeyMessages.Unreadable, result.Error);
        return PasskeyChallenges.UseIdOf(Base64Url.DecodeFromChars(start.CeremonyId));
    }

    private static Task<List<string>> SignInUsesAsync(PortalAppFactory app) =>
        app.WithDbAsync(db => db.PasskeyCeremonies.Where(c => c.Purpose == CeremonyPurpose.SignIn).Select(c => c.Id).ToListAsync());

    [Fact]
    public async Task Ended_OpenID_Connect_tokens_go_once_no_refresh_token_of_their_time_can_be_valid_and_consents_stay()
    {
        using var app = new PortalAppFactory().WithOidcClients();
        var browser = new PortalScenario(app);
        await browser.SignUpAndFollowAsync(PortalScenario.NewEmail());
        var (verifier, challenge) = OidcTestClient.Pkce();
        var (location, _, _) = await OidcTestClient.FollowAsync(browser.Http, OidcTestClient.AuthorizeUrl(challenge));
        var tokens = await OidcTestClient.JsonAsync(await OidcTestClient.RedeemAsync(browser.Http, OidcTestClient.Query(location!, "code")!, verifier));
        Assert.True((await OidcTestClient.RefreshAsync(browser.Http, tokens.GetProperty("refresh_token").GetString()!)).IsSuccessStatusCode);
        var consents = await app.WithDbAsync(db => db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreAuthorization>()
            .CountAsync(a => a.Type == OpenIddict.Abstractions.OpenIddictConstants.AuthorizationTypes.Permanent));

        // A week after they expired, access and ID tokens go; both refresh tokens stay while they could be presented, the
        // redeemed one too (its reuse must still be recognised).
        app.Time.Advance(TimeSpan.FromDays(20));
        await app.Services.GetRequiredService<ExpiredRowsCleanup>().RunOnceAsync();
        Assert.Equal(
            [OpenIddict.Abstractions.OpenIddictConstants.Statuses.Redeemed, OpenIddict.Abstractions.OpenIddictConstants.Statuses.Valid],
            (await app.WithDbAsync(db => db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreToken>().Select(t => t.Status!).ToListAsync())).Order());

        app.Time.Advance(TimeSpan.FromDays(10) + ExpiredRowsCleanup.Retention);
        await app.Services.GetRequiredService<ExpiredRowsCleanup>().RunOnceAsync();
        Assert.Equal(0, await app.WithDbAsync(db => db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreToken>().CountAsync()));
        Assert.Equal(consents, await app.WithDbAsync(db => db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreAuthorization>()
            .CountAsync(a => a.Type == OpenIddict.Abstractions.OpenIddictConstants.AuthorizationTypes.Permanent)));
    }

    [Fact]
    public async Task A_clock_jump_while_another_writer_holds_the_lock_leads_to_one_cleanup_that_deletes_once_the_lock_is_free()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var userId = await bench.CreateUserAsync();
        var old = await bench.StartLoginAsync(userId);

        // This thread (with xunit's synchronization context) holds SQLite's write lock while it moves the clock by
        // years. Had the hourly run happened on this thread (as a timer continuation run inline), it would have waited
        // for the lock this thread holds, given up busy, and deleted nothing; run elsewhere, it waits for the commit
        // below and then deletes the old session.
        await using (var holder = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={app.DatabasePath}"))
        {
            await holder.OpenAsync();
            await using var transaction = await holder.BeginTransactionAsync();
            app.Time.Advance(TimeSpan.FromDays(365 * 500));
            await transaction.CommitAsync();
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await app.WithDbAsync(db => db.LoginSessions.AnyAsync(s => s.Id == old)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.False(await app.WithDbAsync(db => db.LoginSessions.AnyAsync(s => s.Id == old)));
        Assert.DoesNotContain(app.Logs.Entries, e => e.EventId.Name == "ExpiredRowsCleanupFailed");
    }
}
