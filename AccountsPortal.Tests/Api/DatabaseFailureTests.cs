using System.Diagnostics;
using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.Attacks;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// The database busy past its timeout, missing or read-only: every way in answers a clear 503 (never a 500), nothing
/// partial is written, a login or recovery cut off by it can be finished afterwards, and /healthz tells.
/// </summary>
public sealed class DatabaseFailureTests
{
    /// <summary>A portal whose writes wait one second for the lock before failing busy (the lock is the file's: in memory will do).</summary>
    private static PortalAppFactory BusyAfterOneSecond() =>
        AppApiClient.Configure(new PortalAppFactory()).WithSetting("Database:BusyTimeoutMilliseconds", "1000");

    [Fact]
    public async Task An_app_login_while_another_writer_holds_the_database_gets_503_BUSY_and_writes_nothing()
    {
        using var app = BusyAfterOneSecond();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        var before = await DatabaseState.CaptureAsync(app);

        HttpResponseMessage response;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            response = await client.LogInAsync(email);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        var problem = await AppApiClient.JsonAsync(response);
        Assert.Equal("BUSY", problem.GetProperty("code").GetString());
        Assert.Equal(DatabaseFailures.BusyMessage, problem.GetProperty("title").GetString());
        await DatabaseState.AssertUnchangedAsync(app, before);

        // Once the writer is gone, the same request works.
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);
    }

    [Fact]
    public async Task A_password_form_post_while_the_database_is_busy_shows_try_again_and_writes_nothing()
    {
        using var app = BusyAfterOneSecond();
        var email = PortalScenario.NewEmail();
        using (var signUp = new PortalScenario(app))
        {
            await signUp.SignUpAndReadRecoveryKeyAsync(email);
        }

        using var person = new PortalScenario(app);
        var loginPage = await (await person.Http.GetAsync("/login")).ReadHtmlAsync();
        var before = await DatabaseState.CaptureAsync(app);

        HttpResponseMessage response;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            response = await person.Http.SubmitAsync(loginPage, "/login", "login", new Dictionary<string, string>
            {
                ["Input.Email"] = email,
                ["Input.Password"] = PortalScenario.StrongPassword,
            });
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var page = await response.ReadHtmlAsync();
        Assert.Equal(DatabaseFailures.BusyMessage, page.QuerySelector("[data-testid=database-failure]")!.TextContent);
        Assert.Equal("no-store", response.Headers.CacheControl!.ToString());
        Assert.Null(person.PendingLoginSecret);
        await DatabaseState.AssertUnchangedAsync(app, before);
    }

    [Fact]
    public async Task A_login_whose_completion_found_the_database_busy_is_not_used_up_and_completes_afterwards()
    {
        using var app = BusyAfterOneSecond();
        var email = PortalScenario.NewEmail();
        using (var signUp = new PortalScenario(app))
        {
            await signUp.SignUpAndReadRecoveryKeyAsync(email);
        }

        using var person = new PortalScenario(app);
        var completion = (await person.LogInAsync(email)).LocationPath();
        Assert.StartsWith("/account/complete-sign-in?session=", completion);
        var before = await DatabaseState.CaptureAsync(app);

        HttpResponseMessage cutOff;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            cutOff = await person.Http.GetAsync(completion);
        }

        // The consumption, the browser session and the sign-in event rolled back together: no cookie, no row.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, cutOff.StatusCode);
        Assert.Null(person.AuthCookie);
        await DatabaseState.AssertUnchangedAsync(app, before);

        var retried = await person.Http.GetAsync(completion);
        Assert.True(retried.IsRedirect(), $"status {(int)retried.StatusCode}");
        Assert.NotNull(person.AuthCookie);
        Assert.Equal(HttpStatusCode.OK, (await person.Http.GetAsync("/account")).StatusCode);
    }

    [Fact]
    public async Task A_recovery_cut_off_by_a_busy_database_keeps_the_old_key_and_a_retry_shows_the_new_one()
    {
        using var app = BusyAfterOneSecond();
        var bench = new RecoveryBench(app);
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var email = await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        using var person = new PortalScenario(app);
        var recoverPath = (await person.LogInAsync(email)).LocationPath().Replace("/passkeys/verify", "/two-factor/recover");
        var page = await (await person.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        var before = await DatabaseState.CaptureAsync(app);

        HttpResponseMessage cutOff;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            cutOff = await person.Http.SubmitAsync(page, recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key });
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, cutOff.StatusCode);
        await DatabaseState.AssertUnchangedAsync(app, before);

        // The same key still works, and this time its replacement is shown.
        var (shown, _) = await person.FollowAsync(
            await person.Http.SubmitAsync(recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key }));
        var newWords = PortalScenario.RecoveryKeyWords(await shown.ReadHtmlAsync());
        Assert.Equal(24, newWords.Length);
        var stored = await app.WithDbAsync(db => db.RecoveryKeys.Where(k => k.UserId == userId).Select(k => k.KeyHash).SingleAsync());
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(RecoveryKeyCodec.Parse(string.Join(' ', newWords)).Key!), stored);
    }

    [Fact]
    public async Task An_app_whose_verify_answer_was_lost_after_the_code_was_accepted_gets_its_token_by_calling_again_and_only_once()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        var totp = new TotpBench(app);
        var (userId, email) = await totp.Passkeys.CreateAccountAsync();
        var secret = await totp.EnableAsync(userId);
        app.Time.Advance(TimeSpan.FromSeconds(30));
        using var client = new AppApiClient(app.CreatePortalClient());
        var pending = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = pending.GetProperty("sessionId").GetString()!;
        var sessionSecret = pending.GetProperty("sessionSecret").GetString()!;

        // What committed before the database failed: the code was accepted and the login verified; no token was stored.
        var accepted = await app.WithScope(s => s.GetRequiredService<TotpLogin>().VerifyAsync(
            sessionId, totp.CodeAt(secret, TimeSpan.Zero), Features.Accounts.LoginSessions.LoginProof.ForApp(sessionSecret)));
        Assert.True(accepted.Succeeded, accepted.Error);
        Assert.Equal(0, await app.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));

        // The app, told to try again, sends the same call: the code's step is used, yet the verified login hands over its token.
        var retried = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.CodeAt(secret, TimeSpan.Zero) });
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        var token = (await AppApiClient.JsonAsync(retried)).GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync(token)).StatusCode);

        // Collected as a polling app would: the same token (never a second one), at most twice, then 410.
        var again = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.CodeAt(secret, TimeSpan.Zero) });
        Assert.Equal(token, (await AppApiClient.JsonAsync(again)).GetProperty("token").GetString());
        var third = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", sessionSecret, new { code = totp.CodeAt(secret, TimeSpan.Zero) });
        Assert.Equal(HttpStatusCode.Gone, third.StatusCode);
        Assert.Equal("SESSION_ALREADY_CLAIMED", await AppApiClient.ProblemCodeAsync(third));
        Assert.Equal(1, await app.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/totp", "not-the-secret", new { code = "000000" })).StatusCode);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Sixteen_tabs_turning_the_authenticator_app_on_at_once_store_one_secret_and_the_rest_are_told_why(DatabaseProvider provider)
    {
        using var app = PortalAppFactory.On(provider);
        var bench = new PasskeyBench(app);
        var (userId, _) = await bench.CreateAccountAsync();
        var browser = await bench.SignedInBrowserAsync(userId);
        var enrollments = Enumerable.Range(0, 16)
            .Select(_ => app.WithScope(s => s.GetRequiredService<TotpSetup>().NewEnrollment("someone@example.test")))
            .ToList();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tabs = enrollments.Select(enrollment => Task.Run(async () =>
        {
            await gate.Task;
            await using var scope = app.Services.CreateAsyncScope();
            // The code the app shows, computed by Otp.NET rather than by the portal.
            var code = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(enrollment.SecretBase32)).ComputeTotp(app.Time.GetUtcNow().UtcDateTime);
            return await scope.ServiceProvider.GetRequiredService<TotpSetup>().ConfirmAsync(userId, enrollment.SecretBase32, code, replaceExisting: false, browser);
        })).ToList();
        gate.SetResult();
        var outcomes = await Task.WhenAll(tabs);

        Assert.Single(outcomes, outcome => outcome is null);
        Assert.All(outcomes.Where(outcome => outcome is not null), result => Assert.Equal("An authenticator app is already set up. Reconfigure it instead.", result));
        Assert.Single(await app.WithDbAsync(db => db.TotpAuthenticators.Where(t => t.UserId == userId).ToListAsync()));
    }

    [Fact]
    public async Task A_missing_database_file_fails_logins_closed_with_a_generic_error_and_healthz_turns_unhealthy()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync("/healthz")).StatusCode);

        // Gone from under the running portal (an operator's mistake, a lost volume): no connection may recreate it empty.
        SqliteConnection.ClearAllPools();
        foreach (var file in new[] { app.DatabasePath, app.DatabasePath + "-wal", app.DatabasePath + "-shm" })
        {
            File.Delete(file);
        }

        await AssertFailsClosedAsync(app, client, email);
        Assert.False(File.Exists(app.DatabasePath));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_read_only_database_file_fails_logins_closed_with_a_generic_error_and_healthz_turns_unhealthy()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        await app.WithDbAsync(db => db.Database.ExecuteSqlRawAsync("PRAGMA wal_checkpoint(TRUNCATE)"));
        var before = await DatabaseState.CaptureAsync(app);
        // Connections opened before the file turned read-only keep a writable handle: none may be left in the pool.
        SqliteConnection.ClearAllPools();

        await using (ReadOnlyFile.Make(app.DatabasePath))
        {
            await AssertFailsClosedAsync(app, client, email);
        }

        SqliteConnection.ClearAllPools();
        await DatabaseState.AssertUnchangedAsync(app, before);
    }

    [Fact]
    public async Task Healthz_says_degraded_not_unhealthy_while_another_writer_holds_the_database()
    {
        using var app = BusyAfterOneSecond();
        using var client = app.CreatePortalClient();

        HttpResponseMessage response;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            response = await client.GetAsync("/healthz");
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Degraded", await response.Content.ReadAsStringAsync());
        Assert.Equal("Healthy", await (await client.GetAsync("/healthz")).Content.ReadAsStringAsync());
    }

    private static async Task AssertFailsClosedAsync(PortalAppFactory app, AppApiClient client, string email)
    {
        var api = await client.LogInAsync(email);
        Assert.True(api.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)api.StatusCode}: {await api.Content.ReadAsStringAsync()}");
        var problem = await AppApiClient.JsonAsync(api);
        Assert.Equal("UNAVAILABLE", problem.GetProperty("code").GetString());
        Assert.Equal(DatabaseFailures.UnavailableMessage, problem.GetProperty("title").GetString());
        Assert.False(problem.TryGetProperty("token", out _));

        using var person = new PortalScenario(app);
        var form = await person.Http.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
        });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, form.StatusCode);
        var page = await form.ReadHtmlAsync();
        Assert.Equal(DatabaseFailures.UnavailableMessage, page.QuerySelector("[data-testid=database-failure]")!.TextContent);
        // Generic: it names neither the account nor the cause.
        Assert.DoesNotContain(email, page.Body!.TextContent, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SQLite", page.Body.TextContent, StringComparison.OrdinalIgnoreCase);
        Assert.Null(person.PendingLoginSecret);
        Assert.Null(person.AuthCookie);

        var health = await client.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());
    }
}

/// <summary>
/// Makes a file unwritable for this process until disposed: mode 0444 for an ordinary user; for root, whom modes do
/// not stop, the immutable attribute (<c>chattr +i</c>). Fails loudly when neither holds. Linux only, like the tests.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class ReadOnlyFile : IAsyncDisposable
{
    private readonly string path;
    private readonly UnixFileMode mode;
    private readonly bool immutable;

    private ReadOnlyFile(string path, UnixFileMode mode, bool immutable)
    {
        this.path = path;
        this.mode = mode;
        this.immutable = immutable;
    }

    public static ReadOnlyFile Make(string path)
    {
        var mode = File.GetUnixFileMode(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var immutable = false;
        if (CanWrite(path))
        {
            Run("chattr", "+i", path);
            immutable = true;
        }

        Assert.False(CanWrite(path), $"{path} could not be made read-only on this machine.");
        return new ReadOnlyFile(path, mode, immutable);
    }

    public ValueTask DisposeAsync()
    {
        if (immutable)
        {
            Run("chattr", "-i", path);
        }

        File.SetUnixFileMode(path, mode);
        return ValueTask.CompletedTask;
    }

    private static bool CanWrite(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
        }

        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)}: {process.StandardError.ReadToEnd()}");
    }
}
