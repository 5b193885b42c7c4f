using System.Net;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Guessing codes and recovery keys, in parallel and in sequence, and using them again. The per-account lockout
/// (10 wrong guesses per 15 minutes) is the one thing guessing may change: it counts, locks once, and tells the owner.
/// </summary>
public sealed class BruteForceAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private static string Key(string userId) => AttemptLimits.SecondFactorKey(userId);

    private static string RandomRecoveryKey() => string.Join(' ', RecoveryKeyCodec.ToWords(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    private Task<string> EmailOfAsync(string userId) => portal.App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());

    /// <summary>The guesses locked the account exactly once, the owner is told, and nothing else changed (no factor, no session, no token).</summary>
    /// <remarks>Every wrong guess also counts on the login it was sent to (<paramref name="loginSessionIds"/>), which closes at five.</remarks>
    private async Task AssertLockedOnlyAsync(DatabaseState before, string userId, params string[] loginSessionIds) =>
        await DatabaseState.AssertChangedOnlyAsync(
            portal.App,
            before,
            [
                Expected.LockedBy(Key(userId)), Expected.Event(userId, SecurityEventKind.SecondFactorLockedOut), Expected.EmailQueued(await EmailOfAsync(userId)),
                .. loginSessionIds.Select(Expected.FailedAttemptsMaybeCounted),
            ]);

    [Fact]
    public async Task Thirty_parallel_wrong_codes_from_three_app_logins_evaluate_ten_and_lock_once()
    {
        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        var secret = await portal.Totp.EnableAsync(userId);
        portal.App.Time.Advance(TimeSpan.FromSeconds(30));
        var logins = new List<ApiLogin>();
        for (var i = 0; i < 3; i++)
        {
            logins.Add(await portal.ApiLoginAsync(userId, email));
        }

        var right = portal.Totp.CodeAt(secret, TimeSpan.Zero);
        var wrong = Enumerable.Range(100000, 30).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)).Where(code => code != right).Take(30).ToList();
        var before = await portal.SnapshotAsync();

        var responses = await Task.WhenAll(wrong.Select((code, i) => Task.Run(() => logins[i % 3].TotpAsync(code))));

        // Wrong (400), refused by the account's lock (423), or by a login its own five failures closed (410).
        var statuses = responses.Select(r => (int)r.StatusCode).ToList();
        Assert.All(statuses, status => Assert.Contains(status, new[] { 400, 410, 423 }));
        // At most nine are answered "wrong": the tenth failure locks the account, and a wrong code whose failure is
        // counted once the lock is on (by itself or a parallel one) is answered "locked". Writers that run strictly in
        // turn may answer every one of them so; what is promised is ten evaluated and one lock.
        Assert.InRange(statuses.Count(s => s == 400), 0, 9);
        await AssertLockedOnlyAsync(before, userId, [.. logins.Select(l => l.SessionId)]);
        Assert.Equal(10, await portal.Totp.FailuresAsync(userId));
        // Even the right code, on a new login, now waits out the lock.
        using var fresh = await portal.ApiLoginAsync(userId, email);
        Assert.Equal(HttpStatusCode.Locked, (await fresh.TotpAsync(right)).StatusCode);
        logins.ForEach(login => login.Dispose());
    }

    [Fact]
    public async Task Twenty_parallel_wrong_recovery_keys_evaluate_ten_and_keep_the_key()
    {
        var recovery = new RecoveryBench(portal.App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        // Five guesses for each of four logins: a login closes at its fifth failure, the account locks at ten.
        var logins = new List<Features.Accounts.LoginSessions.StartedLogin>();
        for (var i = 0; i < 4; i++)
        {
            logins.Add(await recovery.StartLoginAsync(userId));
        }

        var guesses = Enumerable.Range(0, 20).Select(_ => RandomRecoveryKey()).ToList();
        var before = await portal.SnapshotAsync();

        var results = await Task.WhenAll(guesses.Select((guess, i) => Task.Run(() => recovery.RecoverAsync(logins[i % 4], guess))));

        Assert.All(results, r => Assert.False(r.Succeeded));
        // As for codes: at most nine "incorrect"; one counted after the lock engaged is answered "locked".
        Assert.InRange(results.Count(r => r.Error == TwoFactorMessages.IncorrectRecoveryKey), 0, 9);
        Assert.All(results, r => Assert.True(
            r.Error is TwoFactorMessages.IncorrectRecoveryKey or TwoFactorMessages.TooManyAttempts || r.Error!.StartsWith("Too many failed attempts", StringComparison.Ordinal), r.Error));
        await AssertLockedOnlyAsync(before, userId, [.. logins.Select(l => l.SessionId)]);
        Assert.Equal(10, await portal.Totp.FailuresAsync(userId));
        Assert.StartsWith("Too many failed attempts", (await recovery.RecoverAsync(await recovery.StartLoginAsync(userId), key)).Error);
    }

    [Fact]
    public async Task An_older_code_after_a_newer_one_was_accepted_is_refused_as_used()
    {
        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        var secret = await portal.Totp.EnableAsync(userId);
        portal.App.Time.Advance(TimeSpan.FromSeconds(60));
        using (var first = await portal.ApiLoginAsync(userId, email))
        {
            Assert.Equal(HttpStatusCode.OK, (await first.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero))).StatusCode);
        }

        using var second = await portal.ApiLoginAsync(userId, email);
        // The code of the step before, still inside the accepted window but older than the one used.
        var older = portal.Totp.CodeAt(secret, TimeSpan.FromSeconds(-30));
        var before = await portal.SnapshotAsync();

        var replayed = await second.TotpAsync(older);

        await AttackPortal.AssertProblemAsync(replayed, HttpStatusCode.BadRequest, "INVALID_CODE", TwoFactorMessages.UsedCode);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.WrongGuessCounted(Key(userId)), Expected.FailedAttemptCounted(second.SessionId));
    }

    [Fact]
    public async Task A_used_recovery_key_in_its_hex_form_is_refused_and_counted()
    {
        var recovery = new RecoveryBench(portal.App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        Assert.True((await recovery.RecoverAsync(await recovery.StartLoginAsync(userId), key)).Succeeded);
        var login = await recovery.StartLoginAsync(userId);
        var hex = Convert.ToHexStringLower(RecoveryKeyCodec.Parse(key).Key!);
        var before = await portal.SnapshotAsync();

        var result = await recovery.RecoverAsync(login, hex);

        Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, result.Error);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.WrongGuessCounted(Key(userId)), Expected.FailedAttemptCounted(login.SessionId));
    }

    [Fact]
    public async Task Guessing_recovery_keys_on_the_recover_page_locks_after_ten_and_then_refuses_the_right_key()
    {
        var recovery = new RecoveryBench(portal.App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        var email = await EmailOfAsync(userId);
        // Three browsers log in: the first two guess five times each (each login closes at its fifth failure), the
        // third brings the right key once the account is locked.
        var browsers = Enumerable.Range(0, 3).Select(_ => new Browser(portal.App)).ToList();
        var recoverPaths = new List<string>();
        foreach (var browser in browsers)
        {
            recoverPaths.Add((await browser.LogInAsync(email)).LocationPath().Replace("/passkeys/verify", "/two-factor/recover", StringComparison.Ordinal));
        }

        var before = await portal.SnapshotAsync();
        var alerts = new List<string>();
        async Task SubmitAsync(int browser, string guess)
        {
            var response = await browsers[browser].Http.SubmitAsync(recoverPaths[browser], "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = guess });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            alerts.Add((await response.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        }

        foreach (var browser in new[] { 0, 1 })
        {
            foreach (var guess in Enumerable.Range(0, 5).Select(_ => RandomRecoveryKey()))
            {
                await SubmitAsync(browser, guess);
            }
        }

        await SubmitAsync(2, key);

        string[] closing = [.. Enumerable.Repeat(TwoFactorMessages.IncorrectRecoveryKey, 4), TwoFactorMessages.TooManyAttempts];
        Assert.Equal([.. closing, .. closing, TwoFactorMessages.LockedOut(TimeSpan.FromMinutes(15))], alerts);
        Assert.All(browsers, browser => Assert.Null(browser.AuthCookie));
        var sessions = recoverPaths.Take(2).Select(path => System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://localhost"), path).Query)["session"]!).ToArray();
        await AssertLockedOnlyAsync(before, userId, sessions);
        browsers.ForEach(browser => browser.Dispose());
    }
}
