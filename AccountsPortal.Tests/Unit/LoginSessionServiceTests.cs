using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AccountsPortal.Tests.Unit;

/// <summary>Login sessions on SQLite.</summary>
public sealed class SqliteLoginSessionServiceTests() : LoginSessionServiceTests(DatabaseProvider.Sqlite);

/// <summary>Login sessions on PostgreSQL.</summary>
public sealed class PostgresLoginSessionServiceTests() : LoginSessionServiceTests(DatabaseProvider.Postgres);

/// <summary>The login session rules, on each provider's database.</summary>
public abstract class LoginSessionServiceTests(DatabaseProvider provider) : IAsyncLifetime
{
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeSecondFactor factor = new();
    private TestDatabase database = null!;
    private string userId = null!;

    public async Task InitializeAsync()
    {
        database = await TestDatabase.CreateAsync(provider);
        await using var db = database.CreateContext();
        var user = new PortalUser { UserName = "a@example.test", Email = "a@example.test", NormalizedUserName = "A@EXAMPLE.TEST" };
        db.Users.Add(user);
        await db.SaveChangesAsync();
        userId = user.Id;
    }

    public async Task DisposeAsync() => await database.DisposeAsync();

    private LoginSessionService Service(PortalDbContext db) =>
        new(db, new SecondFactorDirectory(factor.Enabled ? [factor] : []), time, Options.Create(new LoginSessionOptions()));

    private async Task<T> WithServiceAsync<T>(Func<LoginSessionService, Task<T>> action)
    {
        await using var db = database.CreateContext();
        return await action(Service(db));
    }

    private async Task<LoginSession> LoadAsync(string id)
    {
        await using var db = database.CreateContext();
        return await db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == id);
    }

    [Fact]
    public async Task Without_a_second_factor_the_session_is_verified_and_leads_to_completion()
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, "/account"));

        var stored = await LoadAsync(login.SessionId);
        Assert.Equal(LoginSessionState.Verified, stored.State);
        Assert.Null(stored.SecondFactor);
        Assert.Equal(time.GetUtcNow().AddMinutes(10), stored.ExpiresAt);
        Assert.Equal(LoginSessionService.CompletionUrl(login.SessionId), login.NextUrl);
        Assert.True(login.SessionId.Length >= 32);
        Assert.DoesNotContain(login.BrowserSecret, Convert.ToBase64String(stored.BrowserBindingHash));
    }

    [Fact]
    public async Task With_a_second_factor_the_session_awaits_it_and_leads_to_its_verify_page()
    {
        factor.Enabled = true;

        var login = await WithServiceAsync(s => s.StartAsync(userId, null));

        var stored = await LoadAsync(login.SessionId);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, stored.State);
        Assert.Equal("fake", stored.SecondFactor);
        Assert.Equal($"/fake/verify?session={login.SessionId}", login.NextUrl);
        Assert.False((await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret))).Succeeded);
    }

    [Fact]
    public async Task Consumes_once_for_the_browser_that_started_it()
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, "/passkeys"));

        var first = await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret));
        var second = await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret));

        Assert.True(first.Succeeded);
        Assert.Equal(userId, first.UserId);
        Assert.Equal("/passkeys", first.ReturnUrl);
        // No second factor: the password alone (RFC 8176 "pwd").
        Assert.Equal(["pwd"], AuthenticationMethods.Parse(first.AuthenticationMethods));
        Assert.False(second.Succeeded);
        Assert.Equal(time.GetUtcNow(), (await LoadAsync(login.SessionId)).ConsumedAt);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("another-browsers-secret")]
    public async Task Refuses_without_the_pending_cookie_secret_and_leaves_the_session_unchanged(string? secret)
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));
        var before = await LoadAsync(login.SessionId);

        var result = await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, secret));

        Assert.False(result.Succeeded);
        Assert.Equivalent(before, await LoadAsync(login.SessionId));
    }

    [Fact]
    public async Task Refuses_after_expiry()
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));
        time.Advance(TimeSpan.FromMinutes(10));

        var result = await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret));

        Assert.False(result.Succeeded);
        Assert.Null((await LoadAsync(login.SessionId)).ConsumedAt);
        Assert.Null(await WithServiceAsync(s => s.FindLiveAsync(login.SessionId)));
    }

    [Fact]
    public async Task Only_one_of_many_concurrent_completions_succeeds()
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret)))));

        Assert.Single(results, r => r.Succeeded);
    }

    [Fact]
    public async Task Marks_verified_only_a_live_session_awaiting_its_factor()
    {
        factor.Enabled = true;
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));

        Assert.True(await WithServiceAsync(s => s.MarkVerifiedAsync(login.SessionId, new LoginProof(login.BrowserSecret, null), approvalAllowed: false, AuthenticationMethods.PasswordAndPasskey(backupEligible: true))));
        Assert.False(await WithServiceAsync(s => s.MarkVerifiedAsync(login.SessionId, new LoginProof(login.BrowserSecret, null), approvalAllowed: false, AuthenticationMethods.PasswordAndCode)));
        var consumed = await WithServiceAsync(s => s.ConsumeAsync(login.SessionId, login.BrowserSecret));
        Assert.True(consumed.Succeeded);
        // How it was verified travels to the sign-in ticket (and ID tokens): the first verification's methods, RFC 8176 values.
        Assert.Equal(["pwd", "swk", "mfa"], AuthenticationMethods.Parse(consumed.AuthenticationMethods));

        var expired = await WithServiceAsync(s => s.StartAsync(userId, null));
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.False(await WithServiceAsync(s => s.MarkVerifiedAsync(expired.SessionId, new LoginProof(expired.BrowserSecret, null), approvalAllowed: false, AuthenticationMethods.PasswordAndCode)));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await LoadAsync(expired.SessionId)).State);
    }

    [Fact]
    public async Task Failed_attempts_close_the_session_at_the_limit()
    {
        factor.Enabled = true;
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));

        var remaining = new List<int?>();
        for (var i = 0; i < 6; i++)
        {
            remaining.Add(await WithServiceAsync(s => s.RecordFailedAttemptAsync(login.SessionId)));
        }

        // The fifth closes it; a sixth (a request that was under way) finds it closed and counts nothing more.
        Assert.Equal<int?>([4, 3, 2, 1, 0, 0], remaining);
        var stored = await LoadAsync(login.SessionId);
        Assert.Equal(LoginSessionState.Failed, stored.State);
        Assert.Equal(5, stored.FailedAttempts);
        Assert.False(await WithServiceAsync(s => s.MarkVerifiedAsync(login.SessionId, new LoginProof(login.BrowserSecret, null), approvalAllowed: false, AuthenticationMethods.PasswordAndCode)));
        Assert.Null(await WithServiceAsync(s => s.FindLiveAsync(login.SessionId)));
    }

    [Fact]
    public async Task A_failed_attempt_on_a_session_verified_meanwhile_counts_nothing_and_says_so()
    {
        factor.Enabled = true;
        var login = await WithServiceAsync(s => s.StartAsync(userId, null));
        Assert.True(await WithServiceAsync(s => s.MarkVerifiedAsync(login.SessionId, new LoginProof(login.BrowserSecret, null), approvalAllowed: false, AuthenticationMethods.PasswordAndCode)));
        var before = await LoadAsync(login.SessionId);

        var remaining = await WithServiceAsync(s => s.RecordFailedAttemptAsync(login.SessionId));

        // Not "closed by failed attempts" (0): the login is no longer waiting for a second factor at all.
        Assert.Null(remaining);
        Assert.Equivalent(before, await LoadAsync(login.SessionId));
    }

    [Fact]
    public async Task Stores_only_a_local_return_url()
    {
        var login = await WithServiceAsync(s => s.StartAsync(userId, "https://evil.example/"));

        Assert.Equal("/account", (await LoadAsync(login.SessionId)).ReturnUrl);
    }

    private sealed class FakeSecondFactor : ISecondFactor
    {
        public bool Enabled { get; set; }

        public string Name => "fake";

        public string DisplayName => "Fake factor";

        public int Precedence => 1;

        public Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken) => Task.FromResult(Enabled);

        public string VerifyPath(string loginSessionId) => $"/fake/verify?session={loginSessionId}";
    }
}
