using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Tests.Unit;

public sealed class SecondFactorLockoutTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task Ten_wrong_codes_lock_the_account_for_fifteen_minutes_even_for_the_right_code(DatabaseProvider provider)
    {
        using var app = PortalAppFactory.On(provider);
        var bench = new TotpBench(app);
        var userId = await bench.Passkeys.CreateUserAsync();
        var secret = await bench.EnableAsync(userId);
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var wrong = bench.WrongCode(secret);
        var account = await bench.Passkeys.AccountSnapshotAsync(userId);

        // Two logins of five wrong codes each: each login is closed by its fifth, the account counts all ten.
        var first = await bench.Passkeys.StartLoginAsync(userId);
        for (var i = 1; i <= 4; i++)
        {
            Assert.Equal(TwoFactorMessages.WrongCode, (await bench.VerifyAsync(first, wrong)).Error);
        }

        Assert.Equal(SecondFactorFailure.TooManyAttempts, (await bench.VerifyAsync(first, wrong)).Failure);
        var second = await bench.Passkeys.StartLoginAsync(userId);
        for (var i = 1; i <= 4; i++)
        {
            Assert.Equal(TwoFactorMessages.WrongCode, (await bench.VerifyAsync(second, wrong)).Error);
        }

        // The tenth wrong code both locks the account and closes its login: the login is over, with the lock's time.
        var tenth = await bench.VerifyAsync(second, wrong);
        Assert.Equal(SecondFactorFailure.TooManyAttempts, tenth.Failure);
        Assert.InRange(tenth.RetryAfter!.Value, TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(15));
        Assert.Equal(10, await bench.FailuresAsync(userId));
        Assert.Equal(LoginSessionState.Failed, (await bench.Passkeys.SessionAsync(first)).State);
        Assert.Equal(LoginSessionState.Failed, (await bench.Passkeys.SessionAsync(second)).State);
        // Counted, and nothing else changed: no code used up, no session, no token.
        Assert.Equal(account, await bench.Passkeys.AccountSnapshotAsync(userId));

        // A new login: the right code is refused unread, and counts toward nothing.
        var third = await bench.Passkeys.StartLoginAsync(userId);
        Assert.Equal(TwoFactorMessages.LockedOut(TimeSpan.FromMinutes(15)), (await bench.VerifyAsync(third, bench.CodeAt(secret, TimeSpan.Zero))).Error);
        Assert.Equal(0, (await bench.Passkeys.SessionAsync(third)).FailedAttempts);
        Assert.Equal(account, await bench.Passkeys.AccountSnapshotAsync(userId));

        // Login sessions last 10 minutes; the lockout outlives them.
        app.Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromSeconds(1));
        var later = await bench.Passkeys.StartLoginAsync(userId);
        Assert.StartsWith("Too many failed attempts", (await bench.VerifyAsync(later, bench.CodeAt(secret, TimeSpan.Zero))).Error);
        app.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await bench.VerifyAsync(later, bench.CodeAt(secret, TimeSpan.Zero))).Succeeded);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task A_right_code_gives_no_wrong_guess_back_until_the_window_ends(DatabaseProvider provider)
    {
        using var app = PortalAppFactory.On(provider);
        var bench = new TotpBench(app);
        var userId = await bench.Passkeys.CreateUserAsync();
        var secret = await bench.EnableAsync(userId);
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var wrong = bench.WrongCode(secret);

        // A guesser's nine wrong codes, each from a login of its own (a login closes after five).
        for (var i = 0; i < 9; i++)
        {
            await bench.VerifyAsync(await bench.Passkeys.StartLoginAsync(userId), wrong);
        }

        // The owner signs in between a guesser's codes: the guesser still has one wrong code left, not ten.
        var owner = await bench.Passkeys.StartLoginAsync(userId);
        Assert.True((await bench.VerifyAsync(owner, bench.CodeAt(secret, TimeSpan.Zero))).Succeeded);
        var second = await bench.Passkeys.StartLoginAsync(userId);
        Assert.Equal(TwoFactorMessages.LockedOut(TimeSpan.FromMinutes(15)), (await bench.VerifyAsync(second, wrong)).Error);
        Assert.Equal(10, await bench.FailuresAsync(userId));

        // A window without a lock ends by itself: after it, the count starts again.
        using var quiet = PortalAppFactory.On(provider);
        var calm = new TotpBench(quiet);
        var calmUser = await calm.Passkeys.CreateUserAsync();
        var calmSecret = await calm.EnableAsync(calmUser);
        quiet.Time.Advance(TimeSpan.FromSeconds(60));
        var calmWrong = calm.WrongCode(calmSecret);
        for (var i = 0; i < 9; i++)
        {
            await calm.VerifyAsync(await calm.Passkeys.StartLoginAsync(calmUser), calmWrong);
        }

        quiet.Time.Advance(TimeSpan.FromMinutes(15));
        var fresh = await calm.Passkeys.StartLoginAsync(calmUser);
        Assert.Equal(TwoFactorMessages.WrongCode, (await calm.VerifyAsync(fresh, calm.WrongCode(calmSecret))).Error);
        Assert.Equal(1, await calm.FailuresAsync(calmUser));
        Assert.True((await calm.VerifyAsync(fresh, calm.CodeAt(calmSecret, TimeSpan.Zero))).Succeeded);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task The_lockout_survives_a_new_login_session_and_a_restart(DatabaseProvider provider)
    {
        string databasePath;
        string userId;
        byte[] secret;
        using var restarted = PortalAppFactory.On(provider);
        using (var app = PortalAppFactory.On(provider).WithSetting("Database:SqlitePath", restarted.DatabasePath)
            .WithSetting("Database:ConnectionString", restarted.PostgresConnectionString))
        {
            databasePath = restarted.DatabasePath;
            var bench = new TotpBench(app);
            userId = await bench.Passkeys.CreateUserAsync();
            secret = await bench.EnableAsync(userId);
            app.Time.Advance(TimeSpan.FromSeconds(60));
            for (var i = 0; i < 10; i++)
            {
                // A new login session for every guess: the count is the account's, not the session's.
                await bench.VerifyAsync(await bench.Passkeys.StartLoginAsync(userId), bench.WrongCode(secret));
            }
        }

        var after = new TotpBench(restarted);
        restarted.Time.Advance(TimeSpan.FromMinutes(1));
        var sessionId = await after.Passkeys.StartLoginAsync(userId);
        var result = await after.VerifyAsync(sessionId, after.CodeAt(secret, TimeSpan.Zero));

        Assert.StartsWith("Too many failed attempts", result.Error);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await after.Passkeys.SessionAsync(sessionId)).State);
        if (provider == DatabaseProvider.Sqlite)
        {
            Assert.True(File.Exists(databasePath));
        }
    }
}
