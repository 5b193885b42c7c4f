using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Apps;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// "Confirm it's you" on the services every page calls: what someone holding only a stolen signed-in cookie
/// (a browser session older than the window) gets, and what each factor's confirmation takes.
/// </summary>
public sealed class ConfirmationTests
{
    private static readonly TimeSpan PastTheWindow = TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1);

    private static Task<T> WithAsync<T>(PortalAppFactory app, Func<IServiceProvider, Task<T>> action) => new PasskeyBench(app).WithAsync(action);

    /// <summary>Everything a refused security change must leave alone.</summary>
    private static Task<string> SnapshotAsync(PortalAppFactory app, string userId) => app.WithDbAsync(async db => System.Text.Json.JsonSerializer.Serialize(new
    {
        Passkeys = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).OrderBy(p => p.Id).Select(p => new { p.Id, p.Name, p.SignCount }).ToListAsync(),
        Totp = await db.TotpAuthenticators.AsNoTracking().Where(t => t.UserId == userId).Select(t => t.ProtectedSecret).ToListAsync(),
        Sessions = await db.BrowserSessions.AsNoTracking().Where(s => s.UserId == userId).OrderBy(s => s.Id).Select(s => s.Id).ToListAsync(),
        Tokens = await db.AppTokens.AsNoTracking().Where(t => t.UserId == userId && t.RevokedAt == null).CountAsync(),
        Stamp = await db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync(),
    }));

    public static TheoryData<string> SecurityChanges => new()
    {
        "add a passkey", "rename a passkey", "delete a passkey", "turn on the authenticator app", "turn off the authenticator app",
        "sign out another browser", "sign out an app", "sign out everywhere else",
    };

    [Theory]
    [MemberData(nameof(SecurityChanges))]
    public async Task A_stolen_cookie_older_than_the_window_changes_nothing(string change)
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        var bench = new PasskeyBench(app);
        var totp = new TotpBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator, "Phone");
        var other = await bench.SignedInBrowserAsync(userId);
        using var appClient = new AppApiClient(app.CreatePortalClient());
        var appLogin = await AppApiClient.JsonAsync(await appClient.LogInAsync(email));
        Assert.True(appLogin.TryGetProperty("sessionId", out _));
        var stolen = await bench.SignedInBrowserAsync(userId);
        var enrollment = await WithAsync(app, s => Task.FromResult(s.GetRequiredService<TotpSetup>().NewEnrollment(email)));
        var secret = OtpNet.Base32Encoding.ToBytes(enrollment.SecretBase32);
        if (change == "turn off the authenticator app")
        {
            await totp.EnableAsync(userId);
            stolen = await bench.SignedInBrowserAsync(userId);
            other = await bench.SignedInBrowserAsync(userId);
        }

        app.Time.Advance(PastTheWindow);
        var before = await SnapshotAsync(app, userId);
        var start = await bench.BeginRegistrationAsync(userId);

        var error = change switch
        {
            "add a passkey" => (await WithAsync(app, s => s.GetRequiredService<PasskeyRegistration>()
                .CompleteAsync(userId, start.CeremonyId!, "Attacker's key", bench.NewAuthenticator().CreateCredential(start.OptionsJson!), stolen))).Error,
            "rename a passkey" => (await WithAsync(app, s => s.GetRequiredService<PasskeyManagement>().RenameAsync(userId, passkeyId, "Renamed", stolen))).Error,
            "delete a passkey" => (await WithAsync(app, s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, stolen))).Error,
            "turn on the authenticator app" => await WithAsync(app, s => s.GetRequiredService<TotpSetup>()
                .ConfirmAsync(userId, enrollment.SecretBase32, totp.CodeAt(secret, TimeSpan.Zero), replaceExisting: false, stolen)),
            "turn off the authenticator app" => await WithAsync(app, s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, stolen)),
            "sign out another browser" => await WithAsync(app, s => s.GetRequiredService<SignedInSessions>().SignOutBrowserAsync(userId, other, stolen)),
            "sign out an app" => await WithAsync(app, s => s.GetRequiredService<SignedInSessions>().SignOutAppAsync(userId, "1", stolen)),
            _ => await WithAsync(app, s => s.GetRequiredService<SignedInSessions>().SignOutEverywhereElseAsync(userId, stolen)),
        };

        Assert.Equal(RecentConfirmation.Required, error);
        Assert.Equal(before, await SnapshotAsync(app, userId));
    }

    [Fact]
    public async Task The_factor_asked_for_is_the_strongest_the_account_has()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var totp = new TotpBench(app);
        var userId = await bench.CreateUserAsync();
        var factor = () => WithAsync(app, s => s.GetRequiredService<Confirmations>().FactorAsync(userId));

        Assert.Equal(ConfirmationFactor.Password, await factor());
        await totp.EnableAsync(userId);
        Assert.Equal(ConfirmationFactor.AuthenticatorApp, await factor());
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        Assert.Equal(ConfirmationFactor.Passkey, await factor());

        // The password (or a code) never stands in for the passkey the account has.
        var browser = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var password = await WithAsync(app, s => s.GetRequiredService<Confirmations>().WithPasswordAsync(userId, browser, PortalScenario.StrongPassword, null));
        Assert.Equal(Confirmations.WrongFactor, password.Error);
        Assert.False(await WithAsync(app, s => s.GetRequiredService<RecentConfirmation>().IsFreshAsync(userId, browser)));
    }

    [Fact]
    public async Task A_passkey_confirms_only_the_browser_session_its_ceremony_was_started_for()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var mine = await bench.SignedInBrowserAsync(userId);
        var thief = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var confirmations = (IServiceProvider s) => s.GetRequiredService<Confirmations>();

        var start = await WithAsync(app, s => confirmations(s).BeginPasskeyAsync(userId, mine));
        var answer = authenticator.GetAssertion(start.OptionsJson!);
        var stolenAnswer = await WithAsync(app, s => confirmations(s).WithPasskeyAsync(userId, thief, start.CeremonyId, answer, null));
        var result = await WithAsync(app, s => confirmations(s).WithPasskeyAsync(userId, mine, start.CeremonyId, answer, null));

        Assert.Equal(PasskeyMessages.RequestExpired, stolenAnswer.Error);
        // The ceremony was not consumed by the refused attempt with the other session.
        Assert.True(result.Succeeded, result.Error);
        Assert.True(await WithAsync(app, s => s.GetRequiredService<RecentConfirmation>().IsFreshAsync(userId, mine)));
        Assert.False(await WithAsync(app, s => s.GetRequiredService<RecentConfirmation>().IsFreshAsync(userId, thief)));
        var kinds = await app.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == userId).Select(e => e.Kind).ToListAsync());
        Assert.Contains(SecurityEventKind.IdentityConfirmed, kinds);
        Assert.Contains(SecurityEventKind.IdentityConfirmationFailed, kinds);
    }

    [Fact]
    public async Task A_code_confirms_once_per_time_step_and_wrong_codes_count_toward_the_login_lockout()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var totp = new TotpBench(app);
        var userId = await bench.CreateUserAsync();
        var secret = await totp.EnableAsync(userId);
        app.Time.Advance(TimeSpan.FromSeconds(30));
        var browser = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var confirm = (string code) => WithAsync(app, s => s.GetRequiredService<Confirmations>().WithCodeAsync(userId, browser, code, null));

        var code = totp.CodeAt(secret, TimeSpan.Zero);
        Assert.True((await confirm(code)).Succeeded);
        Assert.Equal(TwoFactorMessages.UsedCode, (await confirm(code)).Error);
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(TwoFactorMessages.WrongCode, (await confirm("000000")).Error);
        }

        // Ten wrong codes (the used one counted too) lock the second factor, for login as for confirmation.
        Assert.StartsWith("Too many failed attempts", (await confirm("000000")).Error);
        Assert.Equal(10, await totp.FailuresAsync(userId));
        var login = await bench.StartLoginAsync(userId);
        Assert.StartsWith("Too many failed attempts", (await totp.VerifyAsync(login, totp.CodeAt(secret, TimeSpan.FromSeconds(30)))).Error);
    }

    [Fact]
    public async Task Wrong_passwords_count_toward_the_login_lockout()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        var browser = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var confirm = (string password) => WithAsync(app, s => s.GetRequiredService<Confirmations>().WithPasswordAsync(userId, browser, password, null));

        for (var i = 0; i < 5; i++)
        {
            Assert.NotNull((await confirm("not the password")).Error);
        }

        Assert.Equal(Features.Accounts.SignIn.Login.LockedOutMessage, (await confirm(PortalScenario.StrongPassword)).Error);
        using var person = new PortalScenario(app);
        var login = await person.LogInAsync(email);
        Assert.Contains(Features.Accounts.SignIn.Login.LockedOutMessage, (await login.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent);
        Assert.False(await WithAsync(app, s => s.GetRequiredService<RecentConfirmation>().IsFreshAsync(userId, browser)));
    }

    [Fact]
    public async Task The_recovery_key_confirms_rotates_and_ends_every_other_session()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var email = PortalScenario.NewEmail();
        string[] words;
        using (var person = new PortalScenario(app))
        {
            words = await person.SignUpAndReadRecoveryKeyAsync(email);
        }

        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator);
        var mine = await bench.SignedInBrowserAsync(userId);
        var other = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var confirm = (string key) => WithAsync(app, s => s.GetRequiredService<Confirmations>().WithRecoveryKeyAsync(userId, mine, key, null));

        var wrong = await confirm(string.Join(' ', Features.Accounts.RecoveryKeys.RecoveryKeyCodec.ToWords(new byte[32])));
        Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, wrong.Error);
        Assert.Equal(1, await new TotpBench(app).FailuresAsync(userId));

        var right = await confirm(string.Join(' ', words));

        Assert.True(right.Succeeded, right.Error);
        Assert.Equal(24, right.NewRecoveryKey!.Count);
        Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, (await confirm(string.Join(' ', words))).Error);
        Assert.Equal([mine], await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).ToListAsync()));
        Assert.Null((await WithAsync(app, s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, mine))).Error);
        Assert.NotEqual(other, mine);
    }

    [Fact]
    public async Task The_recovery_key_sent_many_times_at_once_confirms_once_and_leaves_the_lockout_balanced()
    {
        // "Confirm it's you" with the recovery key, double-clicked many times over: every confirmation in a scope (and
        // database connection) of its own, all released together.
        const int clicks = 16;
        using var app = new PortalAppFactory().WithSetting("Database:BusyTimeoutMilliseconds", "60000");
        var bench = new PasskeyBench(app);
        var email = PortalScenario.NewEmail();
        string[] words;
        using (var person = new PortalScenario(app))
        {
            words = await person.SignUpAndReadRecoveryKeyAsync(email);
        }

        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        var mine = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(PastTheWindow);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = Enumerable.Range(0, clicks).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            return await WithAsync(app, s => s.GetRequiredService<Confirmations>().WithRecoveryKeyAsync(userId, mine, string.Join(' ', words), null));
        })).ToArray();

        gate.SetResult();
        var results = await Task.WhenAll(attempts);

        var confirmed = Assert.Single(results, r => r.Succeeded);
        Assert.All(results.Where(r => r != confirmed), r => Assert.NotNull(r.Error));
        Assert.Equal(1, await app.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.RecoveryKeyUsed)));
        // The new key is the one stored, and it works.
        Assert.True(await WithAsync(app, s => s.GetRequiredService<Features.Accounts.RecoveryKeys.RecoveryKeyService>()
            .MatchesAsync(userId, Features.Accounts.RecoveryKeys.RecoveryKeyCodec.Parse(string.Join(' ', confirmed.NewRecoveryKey!)).Key)));
        // Every reserved attempt was given back or counted as a failure: none is left reserved for good.
        var counter = await app.WithDbAsync(db => db.AttemptCounters.AsNoTracking()
            .SingleAsync(c => c.Key == Features.Accounts.Attempts.AttemptLimits.SecondFactorKey(userId)));
        Assert.Equal(counter.Failures, counter.Reserved);
    }
}
