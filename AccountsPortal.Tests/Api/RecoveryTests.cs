using System.Net;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

public sealed class RecoveryTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private readonly RecoveryBench bench = new(app);

    [Fact]
    public async Task The_24_words_verify_the_login_once_and_issue_a_new_key()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var login = await bench.StartLoginAsync(userId);

        var result = await bench.RecoverAsync(login, "  " + key.ToUpperInvariant().Replace(" ", "   ") + "\n");

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(24, result.NewRecoveryKey!.Count);
        Assert.NotEqual(key, string.Join(' ', result.NewRecoveryKey));
        Assert.Equal("passkey", result.SecondFactor);
        Assert.Equal(LoginSessionState.Verified, (await bench.Passkeys.SessionAsync(login.SessionId)).State);
        // The factors themselves stay: recovery does not delete the passkey.
        Assert.Single(await bench.Passkeys.PasskeysAsync(userId));

        var next = await bench.StartLoginAsync(userId);
        Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, (await bench.RecoverAsync(next, key)).Error);
        Assert.True((await bench.RecoverAsync(next, string.Join(' ', result.NewRecoveryKey))).Succeeded);
    }

    [Fact]
    public async Task The_64_hex_form_is_accepted()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var hex = Convert.ToHexStringLower(RecoveryKeyCodec.Parse(key).Key!);

        var result = await bench.RecoverAsync(await bench.StartLoginAsync(userId), hex);

        Assert.True(result.Succeeded, result.Error);
    }

    public static TheoryData<string, string> BadKeys
    {
        get
        {
            var words = RecoveryKeyCodec.ToWords(new byte[32]);
            return new TheoryData<string, string>
            {
                { string.Join(' ', words[..^1].Append("zoo")), "These words are not a valid recovery key. Check them for typos." },
                { string.Join(' ', words[..23]), "A recovery key has 24 words; this has 23." },
                { string.Join(' ', words.Append("art")), "A recovery key has 24 words; this has 25." },
                { string.Join(' ', words) + new string(' ', 500), "That is too long to be a recovery key." },
                { "", "Enter your recovery key." },
                { "abcd", "A recovery key has 24 words; this has 1." },
            };
        }
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task Malformed_keys_get_a_clear_message_and_change_nothing(string input, string message)
    {
        var (userId, _) = await bench.AccountWithPasskeyAsync();
        var login = await bench.StartLoginAsync(userId);
        var before = await bench.SnapshotAsync(userId, login.SessionId);

        var result = await bench.RecoverAsync(login, input);

        Assert.Equal(message, result.Error);
        Assert.Equal(before, await bench.SnapshotAsync(userId, login.SessionId));
    }

    /// <summary>The account and the login session (its failed-attempt counter aside): what a wrong key must leave as it was.</summary>
    private async Task<string> UnchangedAsync(string userId, string sessionId, bool closed = false) =>
        await bench.Passkeys.AccountSnapshotAsync(userId) + await bench.Passkeys.SessionSnapshotAsync(sessionId, withoutState: closed);

    private Task<int> AccountFailuresAsync(string userId) =>
        app.WithDbAsync(db => db.AttemptCounters.Where(c => c.Key == AccountsPortal.Features.Accounts.Attempts.AttemptLimits.SecondFactorKey(userId)).Select(c => c.Failures).SingleAsync());

    private static string RandomKey() => string.Join(' ', RecoveryKeyCodec.ToWords(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    [Fact]
    public async Task Another_users_recovery_key_is_incorrect_and_counts_toward_the_lockout()
    {
        var (userId, _) = await bench.AccountWithPasskeyAsync();
        var (_, otherKey) = await bench.AccountWithPasskeyAsync();
        var login = await bench.StartLoginAsync(userId);
        var before = await UnchangedAsync(userId, login.SessionId);

        var result = await bench.RecoverAsync(login, otherKey);

        Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, result.Error);
        Assert.False(result.SessionClosed);
        var session = await bench.Passkeys.SessionAsync(login.SessionId);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, session.State);
        Assert.Equal(1, session.FailedAttempts);
        Assert.Equal(1, await AccountFailuresAsync(userId));
        Assert.Equal(before, await UnchangedAsync(userId, login.SessionId));
    }

    [Fact]
    public async Task Wrong_keys_close_the_login_session_at_its_limit_and_change_nothing_else()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var login = await bench.StartLoginAsync(userId);
        var before = await UnchangedAsync(userId, login.SessionId);

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var refused = await bench.RecoverAsync(login, RandomKey());
            Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, refused.Error);
            Assert.False(refused.SessionClosed);
            Assert.Equal(attempt, (await bench.Passkeys.SessionAsync(login.SessionId)).FailedAttempts);
        }

        // The fifth (LoginSessions:MaxFailedAttempts) closes the login, as a fifth refused passkey would.
        var last = await bench.RecoverAsync(login, RandomKey());

        Assert.Equal(TwoFactorMessages.TooManyAttempts, last.Error);
        Assert.True(last.SessionClosed);
        var closed = await bench.Passkeys.SessionAsync(login.SessionId);
        Assert.Equal(LoginSessionState.Failed, closed.State);
        Assert.Equal(5, closed.FailedAttempts);
        Assert.Equal(5, await AccountFailuresAsync(userId));
        Assert.Equal(before, await UnchangedAsync(userId, login.SessionId, closed: true));
        // The right key no longer helps this login, and was not used up by trying: a new login takes it.
        Assert.Equal(TwoFactorMessages.LoginSessionExpired, (await bench.RecoverAsync(login, key)).Error);
        Assert.Equal(before, await UnchangedAsync(userId, login.SessionId, closed: true));
        Assert.True((await bench.RecoverAsync(await bench.StartLoginAsync(userId), key)).Succeeded);
    }

    [Fact]
    public async Task Ten_wrong_keys_across_logins_lock_out_the_right_one()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        for (var round = 0; round < 2; round++)
        {
            // Five wrong keys close a login: the guesser starts a new one for every five guesses.
            var guessing = await bench.StartLoginAsync(userId);
            for (var guess = 0; guess < 5; guess++)
            {
                Assert.False((await bench.RecoverAsync(guessing, RandomKey())).Succeeded);
            }
        }

        Assert.Equal(10, await AccountFailuresAsync(userId));
        var login = await bench.StartLoginAsync(userId);
        var before = await UnchangedAsync(userId, login.SessionId);

        var result = await bench.RecoverAsync(login, key);

        // Refused unread: the key is not used up, and a refusal that never looked at the key counts nowhere.
        Assert.StartsWith("Too many failed attempts", result.Error);
        Assert.False(result.SessionClosed);
        var session = await bench.Passkeys.SessionAsync(login.SessionId);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, session.State);
        Assert.Equal(0, session.FailedAttempts);
        Assert.Equal(before, await UnchangedAsync(userId, login.SessionId));
    }

    [Fact]
    public async Task Recovery_needs_the_browser_that_passed_the_password_step()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var login = await bench.StartLoginAsync(userId);
        var before = await bench.SnapshotAsync(userId, login.SessionId);

        var result = await bench.RecoverAsync(login with { BrowserSecret = "someone-elses-browser" }, key);

        Assert.Equal(TwoFactorMessages.OtherBrowser, result.Error);
        Assert.Equal(before, await bench.SnapshotAsync(userId, login.SessionId));
    }

    [Fact]
    public async Task Recovery_after_the_session_expired_is_refused()
    {
        using var isolated = new PortalAppFactory();
        var local = new RecoveryBench(isolated);
        var (userId, key) = await local.AccountWithPasskeyAsync();
        var login = await local.StartLoginAsync(userId);
        isolated.Time.Advance(TimeSpan.FromMinutes(10));
        var before = await local.SnapshotAsync(userId, login.SessionId);

        Assert.Equal(TwoFactorMessages.LoginSessionExpired, (await local.RecoverAsync(login, key)).Error);
        // The key was not looked at, let alone used up; nothing was counted.
        Assert.Equal(before, await local.SnapshotAsync(userId, login.SessionId));
        Assert.True((await local.RecoverAsync(await local.StartLoginAsync(userId), key)).Succeeded);
    }

    [Fact]
    public async Task The_recover_page_signs_in_shows_the_new_key_once_and_leads_to_passkeys()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var email = await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        using var person = new PortalScenario(app);
        var verify = (await person.LogInAsync(email)).LocationPath();
        Assert.StartsWith("/passkeys/verify?session=", verify);
        var recoverPath = verify.Replace("/passkeys/verify", "/two-factor/recover");

        var page = await (await person.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        Assert.Equal("Recover two-factor", page.QuerySelector("h1")!.TextContent);
        Assert.Contains("No recovery key?", page.Body!.TextContent);

        var sessionId = System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://localhost"), verify).Query)["session"]!;
        var before = await UnchangedAsync(userId, sessionId);
        var wrong = await person.Http.SubmitAsync(page, recoverPath, "recover", new Dictionary<string, string>
        {
            ["Input.RecoveryKey"] = string.Join(' ', RecoveryKeyCodec.ToWords(new byte[32])),
        });
        Assert.Equal("Incorrect recovery key", (await wrong.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Null(person.AuthCookie);
        Assert.Equal(before, await UnchangedAsync(userId, sessionId));

        var response = await person.Http.SubmitAsync(recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key });
        var (shown, locations) = await person.FollowAsync(response);

        // Signed in by the completion endpoint like every login (a new browser session), then the key page.
        Assert.Equal(2, locations.Count);
        Assert.StartsWith("/account/complete-sign-in?session=", locations[0]);
        Assert.Equal("/account/recovery-key/new", locations[1]);
        Assert.NotNull(person.AuthCookie);
        var shownPage = await shown.ReadHtmlAsync();
        var newWords = PortalScenario.RecoveryKeyWords(shownPage);
        Assert.Equal(24, newWords.Length);
        Assert.NotEqual(key, string.Join(' ', newWords));
        var continued = await person.Http.SubmitAsync(shownPage, "/account/recovery-key/new", "/account/recovery-key/saved", new Dictionary<string, string> { ["saved"] = "on" });
        Assert.Equal("/passkeys?notice=recovered", continued.LocationPath());
        var passkeys = await person.Http.GetAsync("/passkeys?notice=recovered");
        Assert.Equal(HttpStatusCode.OK, passkeys.StatusCode);
        Assert.Contains("You signed in with your recovery key. Remove the passkey you lost and add a new one.", await passkeys.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Wrong_keys_posted_on_the_recover_page_close_the_login_at_its_limit()
    {
        var (userId, key) = await bench.AccountWithPasskeyAsync();
        var email = await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        using var person = new PortalScenario(app);
        var verify = (await person.LogInAsync(email)).LocationPath();
        var recoverPath = verify.Replace("/passkeys/verify", "/two-factor/recover");
        var sessionId = System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://localhost"), verify).Query)["session"]!;
        var before = await UnchangedAsync(userId, sessionId);
        Task<HttpResponseMessage> PostAsync(string recoveryKey) =>
            person.Http.SubmitAsync(recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = recoveryKey });

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var page = await (await PostAsync(RandomKey())).ReadHtmlAsync();
            Assert.Equal(TwoFactorMessages.IncorrectRecoveryKey, page.QuerySelector("[role=alert]")!.TextContent.Trim());
            Assert.Equal(attempt, (await bench.Passkeys.SessionAsync(sessionId)).FailedAttempts);
        }

        var closed = await (await PostAsync(RandomKey())).ReadHtmlAsync();

        Assert.Equal("This login session has expired", closed.QuerySelector("h1")!.TextContent);
        Assert.Equal(TwoFactorMessages.TooManyAttempts, closed.QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Empty(closed.QuerySelectorAll("textarea"));
        Assert.Equal(LoginSessionState.Failed, (await bench.Passkeys.SessionAsync(sessionId)).State);
        Assert.Equal(before, await UnchangedAsync(userId, sessionId, closed: true));
        Assert.Null(person.AuthCookie);
        // The right key cannot be posted on this login any more: the page no longer offers the form.
        var after = await (await person.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        Assert.Equal("This login session has expired", after.QuerySelector("h1")!.TextContent);
        Assert.DoesNotContain(after.Forms, f => f.QuerySelector("input[name=_handler][value=recover]") is not null);
    }

    [Fact]
    public async Task The_recover_page_without_a_live_login_says_the_session_expired()
    {
        using var person = new PortalScenario(app);

        var page = await (await person.Http.GetAsync("/two-factor/recover?session=nothing-here")).ReadHtmlAsync();

        Assert.Equal("This login session has expired", page.QuerySelector("h1")!.TextContent);
        Assert.Equal("/login", page.QuerySelectorAll("a").Single(a => a.TextContent.Contains("Log in again")).GetAttribute("href"));
    }
}
