using System.Net;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Apps;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Someone who passed (or replays) the password step and tries to get around the second factor: skipping it, using a
/// weaker factor than the account's passkey, working on a login that expired, completed or failed, or guessing on
/// through a lockout.
/// </summary>
public sealed class SecondStepAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string Recover = "/two-factor/recover";

    private static string SessionIdOf(string verifyPath) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(new Uri("http://localhost"), verifyPath).Query)["session"].ToString();

    /// <summary>An account with an authenticator app; the next login's code step starts a fresh time step.</summary>
    private async Task<(string UserId, string Email, byte[] Secret)> AccountWithAppAsync()
    {
        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        var secret = await portal.Totp.EnableAsync(userId);
        portal.App.Time.Advance(TimeSpan.FromSeconds(30));
        return (userId, email, secret);
    }

    /// <summary>Locks the account's second factors: ten wrong codes, as many guesses as the lockout allows.</summary>
    private async Task LockSecondFactorAsync(string userId)
    {
        for (var i = 0; i < 10; i++)
        {
            await portal.Passkeys.WithAsync(s => s.GetRequiredService<TotpCodeCheck>().CheckAsync(userId, "999999"));
        }

        Assert.NotNull(await portal.Passkeys.WithAsync(s => s.GetRequiredService<SecondFactorLockout>().RemainingAsync(userId)));
    }

    [Theory]
    [InlineData("passkey")]
    [InlineData("authenticator app")]
    public async Task Opening_the_completion_link_before_the_second_factor_signs_nobody_in(string factor)
    {
        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        if (factor == "passkey")
        {
            using var authenticator = portal.Passkeys.NewAuthenticator();
            await portal.Passkeys.RegisterAsync(userId, authenticator);
        }
        else
        {
            await portal.Totp.EnableAsync(userId);
        }

        using var browser = new Browser(portal.App);
        var verify = (await browser.LogInAsync(email)).LocationPath();
        Assert.StartsWith(factor == "passkey" ? "/passkeys/verify?session=" : "/two-factor/verify?session=", verify);
        var before = await portal.SnapshotAsync();

        var skipped = await browser.Http.GetAsync(LoginSessionService.CompletionUrl(SessionIdOf(verify)));

        Assert.Equal(LoginPage.ExpiredSessionUrl, skipped.LocationPath());
        Assert.Null(browser.AuthCookie);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task An_app_that_skips_the_second_factor_gets_no_token_for_a_made_up_code()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var before = await portal.SnapshotAsync();

        var exchanged = await login.Client.ExchangeAsync(login.SessionId, login.Secret, SecretTokensLike());

        await AttackPortal.AssertProblemAsync(exchanged, HttpStatusCode.BadRequest, ApiProblems.InvalidCode);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task The_return_page_hands_out_no_code_for_a_login_still_waiting_for_its_passkey()
    {
        using var client = portal.NewApiClient();
        var (_, email, authenticator) = await portal.AccountWithPasskeyAsync();
        using (authenticator)
        {
            var started = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
            using var browser = new Browser(portal.App);
            var before = await portal.SnapshotAsync();

            var page = await browser.Http.GetAsync(AppReturnPage.Url(started.GetProperty("sessionId").GetString()!, AppApiClient.ClientId, AppApiClient.HttpsRedirect));

            Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
            Assert.Null(page.Headers.Location);
            Assert.Equal("This login session has expired", (await page.ReadHtmlAsync()).QuerySelector("h1")!.TextContent);
            await DatabaseState.AssertUnchangedAsync(portal.App, before);
        }
    }

    [Fact]
    public async Task A_right_code_is_refused_once_a_passkey_was_added_during_an_app_login()
    {
        var (userId, email, secret) = await AccountWithAppAsync();
        using var login = await portal.ApiLoginAsync(userId, email);
        // The owner adds a passkey meanwhile; the login that started for the code now needs the passkey.
        using var authenticator = portal.Passkeys.NewAuthenticator();
        await portal.Passkeys.RegisterAsync(userId, authenticator);
        var before = await portal.SnapshotAsync();

        var downgraded = await login.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero));

        await AttackPortal.AssertProblemAsync(downgraded, HttpStatusCode.Conflict, ApiProblems.PasskeyRequired, TwoFactorMessages.PasskeyRequired);
        // The code's time step is not used up and no guess is counted: the code was never looked at.
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_code_from_the_authenticator_app_cannot_confirm_its_you_when_a_passkey_exists()
    {
        var (userId, _, secret) = await AccountWithAppAsync();
        using var authenticator = portal.Passkeys.NewAuthenticator();
        await portal.Passkeys.RegisterAsync(userId, authenticator);
        var browser = await portal.Passkeys.SignedInBrowserAsync(userId);
        portal.App.Time.Advance(TimeSpan.FromMinutes(6));
        var before = await portal.SnapshotAsync();

        var result = await portal.Passkeys.WithAsync(s => s.GetRequiredService<Confirmations>()
            .WithCodeAsync(userId, browser, portal.Totp.CodeAt(secret, TimeSpan.Zero), IPAddress.Loopback));

        Assert.Equal(Confirmations.WrongFactor, result.Error);
        // Refused before the code is looked at: its time step stays unused, no guess is counted, the browser is not confirmed.
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task Passkey_options_for_an_expired_app_login_are_refused()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        portal.App.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        var before = await portal.SnapshotAsync();

        var options = await login.Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{login.SessionId}/passkey/options", login.Secret);

        await AttackPortal.AssertProblemAsync(options, HttpStatusCode.Gone, ApiProblems.SessionExpired);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_right_code_for_an_expired_app_login_is_refused_and_stays_unused()
    {
        var (userId, email, secret) = await AccountWithAppAsync();
        using var login = await portal.ApiLoginAsync(userId, email);
        portal.App.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        var before = await portal.SnapshotAsync();

        var late = await login.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero));

        await AttackPortal.AssertProblemAsync(late, HttpStatusCode.Gone, ApiProblems.SessionExpired, TwoFactorMessages.LoginSessionExpired);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_completed_login_cannot_be_used_again_to_spend_the_recovery_key()
    {
        var recovery = new RecoveryBench(portal.App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        using var authenticator = portal.Passkeys.NewAuthenticator();
        await portal.Passkeys.RegisterAsync(userId, authenticator);
        // The owner finishes a login with the passkey; someone copied its pending-login cookie before.
        var login = await recovery.StartLoginAsync(userId);
        portal.Passkeys.Hold(login.SessionId, login.BrowserSecret);
        Assert.True((await portal.Passkeys.LogInAsync(login.SessionId, authenticator)).Succeeded);
        Assert.True((await portal.Passkeys.WithAsync(s => s.GetRequiredService<LoginSessionService>().ConsumeAsync(login.SessionId, login.BrowserSecret))).Succeeded);
        var before = await portal.SnapshotAsync();

        var result = await recovery.RecoverAsync(login, key);

        Assert.Equal(TwoFactorMessages.LoginSessionExpired, result.Error);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task An_app_login_whose_token_was_handed_over_takes_no_further_code()
    {
        var (userId, email, secret) = await AccountWithAppAsync();
        using var login = await portal.ApiLoginAsync(userId, email);
        Assert.Equal(HttpStatusCode.OK, (await login.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero))).StatusCode);
        portal.App.Time.Advance(TimeSpan.FromSeconds(30));
        var before = await portal.SnapshotAsync();

        var again = await login.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero));

        // The login is verified and its token collected: a further call is told so, and gets nothing.
        await AttackPortal.AssertProblemAsync(again, HttpStatusCode.Gone, ApiProblems.SessionAlreadyClaimed);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_login_closed_by_five_failed_passkey_answers_takes_no_right_one()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        // A challenge fetched before the failures, still unused and unexpired afterwards.
        var kept = await login.OptionsAsync();
        for (var i = 1; i <= 5; i++)
        {
            var bad = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { TamperSignature = true });
            Assert.Equal(i < 5 ? HttpStatusCode.BadRequest : HttpStatusCode.Gone, (await login.AnswerAsync(bad)).StatusCode);
        }

        var right = login.Own.GetAssertion(kept);
        var before = await portal.SnapshotAsync();

        var response = await login.AnswerAsync(right);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.Gone, ApiProblems.SessionExpired);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_locked_account_refuses_the_right_code_in_a_new_app_login()
    {
        var (userId, email, secret) = await AccountWithAppAsync();
        await LockSecondFactorAsync(userId);
        using var login = await portal.ApiLoginAsync(userId, email);
        var before = await portal.SnapshotAsync();

        var right = await login.TotpAsync(portal.Totp.CodeAt(secret, TimeSpan.Zero));

        await AttackPortal.AssertProblemAsync(right, HttpStatusCode.Locked, ApiProblems.AccountLocked, TwoFactorMessages.LockedOut(TimeSpan.FromMinutes(15)));
        Assert.NotNull(right.Headers.RetryAfter);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_locked_account_refuses_the_right_recovery_key_on_the_recover_page()
    {
        var recovery = new RecoveryBench(portal.App);
        var (userId, key) = await recovery.AccountWithPasskeyAsync();
        await LockSecondFactorAsync(userId);
        var email = await portal.App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
        using var browser = new Browser(portal.App);
        var verify = (await browser.LogInAsync(email)).LocationPath();
        var recoverPath = Recover + "?session=" + Uri.EscapeDataString(SessionIdOf(verify));
        var page = await (await browser.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        var before = await portal.SnapshotAsync();

        var response = await browser.Http.SubmitAsync(page, recoverPath, "recover", new Dictionary<string, string> { ["Input.RecoveryKey"] = key });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TwoFactorMessages.LockedOut(TimeSpan.FromMinutes(15)), (await response.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Null(browser.AuthCookie);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    private static string SecretTokensLike() => System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
}
