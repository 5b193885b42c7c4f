using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using VerifyPage = AccountsPortal.Features.Passkeys.Verify;

namespace AccountsPortal.Tests.Components;

public sealed class VerifyPageTests : PortalComponentTest
{
    private const string StartedHereKey = "passkey-verify-started-here";
    private const string VisitorKey = "passkey-verify-visitor";

    private async Task<(string SessionId, SoftwareAuthenticator Authenticator)> LoginAwaitingPasskeyAsync()
    {
        var userId = await Bench.CreateUserAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        return (await Bench.StartLoginAsync(userId), authenticator);
    }

    /// <summary>
    /// Renders the page as the browser that started the login (its pending-login cookie), or as another
    /// device that already picked the right approval number (<paramref name="approved"/>), or one that did not.
    /// </summary>
    private IRenderedComponent<VerifyPage> RenderVerify(string sessionId, bool startedHere, string query = "", bool approved = true)
    {
        PersistentState.Persist(StartedHereKey, startedHere);
        var proof = startedHere ? Bench.ProofOf(sessionId) : approved ? new LoginProof(null, ApproveAsync(sessionId).GetAwaiter().GetResult()) : LoginProof.None;
        PersistentState.Persist(VisitorKey, new VerifyVisitor(proof, "198.51.100.4"));
        Services.GetRequiredService<NavigationManager>().NavigateTo($"/passkeys/verify?session={Uri.EscapeDataString(sessionId)}{query}");
        return Render<VerifyPage>();
    }

    /// <summary>Picks the right number for the login, as another device would; returns its approval secret (null if none was granted).</summary>
    private Task<string?> ApproveAsync(string sessionId) => Bench.WithAsync(async s =>
    {
        var number = await Bench.App.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.FirstOrDefaultAsync(
            db.LoginSessions.Where(l => l.Id == sessionId).Select(l => (int?)l.ApprovalNumber)));
        var decision = await s.GetRequiredService<LoginApprovals>().DecideAsync(sessionId, number, new LoginRequester(System.Net.IPAddress.Parse("198.51.100.4"), "Firefox on Android"));
        return decision.Secret;
    });

    /// <summary>A login the test app started through the API, waiting for the account's passkey.</summary>
    private async Task<(string SessionId, SoftwareAuthenticator Authenticator)> AppLoginAwaitingPasskeyAsync()
    {
        var userId = await Bench.CreateUserAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        var started = await Bench.WithAsync(s =>
        {
            var apps = s.GetRequiredService<Features.Apps.ClientApps>();
            return s.GetRequiredService<Features.Apps.AppLogins>().StartAsync(userId, apps.Find(AppApiClient.ClientId)!, AppApiClient.HttpsRedirect);
        });
        return (started.SessionId, authenticator);
    }

    private static string Stage(IRenderedComponent<VerifyPage> page) => page.Find("[data-testid=verify-stage]").GetAttribute("data-stage")!;

    [Fact]
    public async Task A_verified_passkey_signs_in_through_the_completion_endpoint()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith(LoginSessionService.CompletionUrl(sessionId), navigation.Uri), Patience);
        Assert.Equal(LoginSessionState.Verified, (await Bench.SessionAsync(sessionId)).State);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Verifying_for_another_device_says_to_return_there()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: false);
        await WaitForCallsAsync("get", 1);
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        page.WaitForAssertion(() => Assert.Contains("Verified — return to the device you are signing in on.", page.Markup), Patience);
        Assert.Equal("Verified", page.Find("h1").TextContent);
        Assert.DoesNotContain("complete-sign-in", Services.GetRequiredService<NavigationManager>().Uri);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_cancelled_dialog_shows_passkey_login_failed_with_try_again_and_recover()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true)
            .SetResult(new BrowserCredential(false, null, "NotAllowedError", "The operation either timed out or was not allowed."));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("Passkey login failed", page.Find("h1").TextContent), Patience);
        Assert.Empty(page.FindAll("[role=alert]"));
        Assert.Contains("If your passkeys are on a different device, you can open this page on that device to verify.", page.Markup);
        Assert.Contains(page.FindAll("button"), b => b.TextContent.Contains("Try again"));
        Assert.Equal($"/two-factor/recover?session={sessionId}", page.FindAll("a").Single(a => a.TextContent.Contains("Recover two-factor")).GetAttribute("href"));
        Assert.Contains("Waiting for verification", page.Markup);
        Assert.Equal(0, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Try_again_opens_the_dialog_again()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        get.SetResult(new BrowserCredential(false, null, "NotAllowedError", "cancelled"));
        var page = RenderVerify(sessionId, startedHere: true);
        page.WaitForAssertion(() => Assert.Equal("Failed", Stage(page)), Patience);

        page.FindAll("button").Single(b => b.TextContent.Contains("Try again")).Click();

        await WaitForCallsAsync("get", 2);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Another_browser_error_shows_its_reason()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true)
            .SetResult(new BrowserCredential(false, null, "SecurityError", "The relying party ID is not a registrable domain suffix."));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("Passkey login failed", page.Find("h1").TextContent), Patience);
        Assert.Equal("Your browser could not use a passkey: The relying party ID is not a registrable domain suffix.", page.Find("[role=alert]").TextContent.Trim());
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_dialog_open_longer_than_a_minute_keeps_waiting_and_fails_with_try_again_after_the_ceremony()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        PasskeyModule.SetupVoid("abort").SetVoidResult();
        var browser = Services.GetRequiredService<PasskeyBrowser>();
        var lifetime = App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PasskeyOptions>>().Value.LoginChallengeLifetime;

        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);
        var call = PasskeyModule.Invocations["get"].Single();

        // A cross-device (QR code) sign-in past Blazor's default 60 s: the call is still waited for.
        App.Time.Advance(TimeSpan.FromSeconds(90));
        Assert.Equal("Prompting", Stage(page));
        Assert.False(call.CancellationToken!.Value.IsCancellationRequested);
        Assert.True(browser.CallTimeout(lifetime) >= lifetime);

        // Once the ceremony is over, the page gives up by itself, closes the dialog and offers Try again.
        App.Time.Advance(browser.CallTimeout(lifetime) - TimeSpan.FromSeconds(90));
        page.WaitForAssertion(() => Assert.Equal("Failed", Stage(page)), Patience);
        Assert.True(call.CancellationToken!.Value.IsCancellationRequested);
        Assert.Equal("Your browser could not use a passkey: " + BrowserCredential.TimedOut.Message, page.Find("[role=alert]").TextContent.Trim());
        Assert.Contains(page.FindAll("button"), b => b.TextContent.Contains("Try again"));
        Assert.Single(PasskeyModule.Invocations["abort"]);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);
        authenticator.Dispose();
    }

    public static TheoryData<string> InteropFailures => new() { "timeout", "disconnected", "cancelled", "js error", "unreadable result" };

    [Theory]
    [MemberData(nameof(InteropFailures))]
    public async Task Every_way_the_interop_call_can_fail_lands_in_the_failed_state(string failure)
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);

        switch (failure)
        {
            case "timeout":
                get.SetException(new TaskCanceledException("The JS call timed out."));
                break;
            case "disconnected":
                get.SetException(new Microsoft.JSInterop.JSDisconnectedException("The circuit is gone."));
                break;
            case "cancelled":
                get.SetCanceled();
                break;
            case "js error":
                get.SetException(new Microsoft.JSInterop.JSException("TypeError: x is undefined"));
                break;
            default:
                get.SetException(new InvalidOperationException("The result could not be read."));
                break;
        }

        page.WaitForAssertion(() => Assert.Equal("Failed", Stage(page)), Patience);
        page.FindAll("button").Single(b => b.TextContent.Contains("Try again")).Click();
        await WaitForCallsAsync("get", 2);
        Assert.Equal(0, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        authenticator.Dispose();
    }

    /// <summary>
    /// The browser path (this page, with what the browser's module returns) gives the same answers as the API
    /// path (<see cref="Api.ClientInputTests"/>): the checks live in <see cref="PasskeyLogin"/>, which both call.
    /// </summary>
    [Theory]
    [MemberData(nameof(PasskeyRules.All), MemberType = typeof(PasskeyRules))]
    public async Task The_counter_backup_and_ownership_rules_hold_on_the_browser_path_as_on_the_api(string rule)
    {
        var userId = await Bench.CreateUserAsync();
        using var own = Bench.NewAuthenticator();
        using var stranger = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, own);
        await PasskeyRules.PrepareAsync(rule, Bench, userId, own, stranger);
        var sessionId = await Bench.StartLoginAsync(userId);
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);
        var (answer, message) = PasskeyRules.Answer(rule, LastOptions("get"), own, stranger);
        get.SetResult(new BrowserCredential(true, answer, null, null));

        if (message is null)
        {
            var navigation = Services.GetRequiredService<NavigationManager>();
            page.WaitForAssertion(() => Assert.EndsWith(LoginSessionService.CompletionUrl(sessionId), navigation.Uri), Patience);
            Assert.Equal(LoginSessionState.Verified, (await Bench.SessionAsync(sessionId)).State);
        }
        else
        {
            page.WaitForAssertion(() => Assert.Equal(message, page.Find("[role=alert]").TextContent.Trim()), Patience);
            Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);
            Assert.Equal(1, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        }
    }

    [Fact]
    public async Task A_refused_assertion_shows_the_reason_and_counts_the_attempt()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get"), new AssertionOverrides { TamperSignature = true }), null, null));

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.NotVerified, page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.Equal(1, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        // A passkey the account has: nothing for the passkey manager to forget.
        Assert.Empty(PasskeyModule.Invocations["signalUnknownCredential"]);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_passkey_deleted_while_its_dialog_was_open_is_refused_and_signalled_as_unknown()
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var passkeyId = await Bench.RegisterAsync(userId, authenticator);
        var sessionId = await Bench.StartLoginAsync(userId);
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: true);
        await WaitForCallsAsync("get", 1);
        var browser = await Bench.SignedInBrowserAsync(userId);
        Assert.True((await Bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, browser))).Succeeded);
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.NotThisAccount, page.Find("[role=alert]").TextContent.Trim()), Patience);
        // WebAuthn L3 §5.1.10.1: the id the browser itself sent, and the configured RP id.
        var signal = Assert.Single(await WaitForCallsAsync("signalUnknownCredential", 1)).Arguments[0];
        Assert.Equal(new UnknownCredentialSignal("localhost", System.Buffers.Text.Base64Url.EncodeToString(authenticator.Credentials[0].Id)), signal);
        Assert.Equal(1, (await Bench.SessionAsync(sessionId)).FailedAttempts);
    }

    [Fact]
    public async Task For_an_app_the_page_names_it_and_returns_to_it_after_verification()
    {
        var (sessionId, authenticator) = await AppLoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        var query = $"&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}";

        var page = RenderVerify(sessionId, startedHere: false, query);
        page.WaitForAssertion(() => Assert.Equal("Continue to Test App", page.Find("h1").TextContent), Patience);
        await WaitForCallsAsync("get", 1);
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith($"/apps/return?session={sessionId}{query}", navigation.Uri), Patience);
        authenticator.Dispose();
    }

    [Theory]
    [InlineData("&client_id=test-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback%2F", "is not registered for Test App")]
    [InlineData("&client_id=other-app&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback", "names an app that did not start this login")]
    [InlineData("", "was started by an app, but the link does not name it")]
    public async Task A_link_with_a_foreign_app_or_unregistered_redirect_is_refused_before_any_dialog(string query, string reason)
    {
        var (sessionId, authenticator) = await AppLoginAwaitingPasskeyAsync();

        var page = RenderVerify(sessionId, startedHere: false, query);

        page.WaitForAssertion(() => Assert.Contains(reason, page.Find("[role=alert]").TextContent), Patience);
        Assert.Equal("Return address not allowed", page.Find("h1").TextContent);
        Assert.Empty(PasskeyModule.Invocations["get"]);
        authenticator.Dispose();
    }

    [Theory]
    [InlineData("unknown-session")]
    [InlineData("")]
    public void An_unknown_session_says_it_expired_and_leads_to_login(string sessionId)
    {
        var page = RenderVerify(sessionId, startedHere: false);

        page.WaitForAssertion(() => Assert.Equal("This login session has expired", page.Find("h1").TextContent), Patience);
        Assert.Equal("/login", page.FindAll("a").Single(a => a.TextContent.Contains("Log in again")).GetAttribute("href"));
        Assert.Empty(PasskeyModule.Invocations["get"]);
    }

    [Fact]
    public async Task An_expired_session_says_so_without_opening_the_dialog()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        App.Time.Advance(TimeSpan.FromMinutes(11));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("This login session has expired", page.Find("h1").TextContent), Patience);
        Assert.Empty(PasskeyModule.Invocations["get"]);
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_already_verified_session_opened_elsewhere_says_so()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var page = RenderVerify(sessionId, startedHere: false);

        page.WaitForAssertion(() => Assert.Contains("This login has already been verified.", page.Markup), Patience);
        Assert.Empty(PasskeyModule.Invocations["get"]);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_link_opened_elsewhere_shows_who_is_asking_and_three_numbers_and_never_opens_the_dialog()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        var before = await Bench.SessionSnapshotAsync(sessionId);

        var page = RenderVerify(sessionId, startedHere: false, approved: false);

        page.WaitForAssertion(() => Assert.Equal("Approve", Stage(page)), Patience);
        Assert.Equal("Is this you signing in?", page.Find("h1").TextContent);
        var session = await Bench.SessionAsync(sessionId);
        var choices = page.FindAll("[data-testid=approval-choice]").Select(b => int.Parse(b.TextContent.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, choices.Distinct().Count());
        Assert.Contains(session.ApprovalNumber, choices);
        Assert.Contains(page.FindAll("button"), b => b.TextContent.Contains("This wasn't me"));
        Assert.Empty(page.FindAll("[data-testid=approval-number]"));
        Assert.Empty(PasskeyModule.Invocations["get"]);
        Assert.Equal(before, await Bench.SessionSnapshotAsync(sessionId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task The_browser_that_started_the_login_shows_the_approval_number()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true)
            .SetResult(new BrowserCredential(false, null, "NotAllowedError", "cancelled"));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("Failed", Stage(page)), Patience);
        var number = (await Bench.SessionAsync(sessionId)).ApprovalNumber;
        Assert.Equal(number.ToString(System.Globalization.CultureInfo.InvariantCulture), page.Find("[data-testid=approval-number]").TextContent.Trim());
        Assert.InRange(number, 10, 99);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_wrong_number_ends_the_login_and_the_waiting_browser_says_it_was_refused()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true)
            .SetResult(new BrowserCredential(false, null, "NotAllowedError", "cancelled"));
        var waiting = RenderVerify(sessionId, startedHere: true);
        waiting.WaitForAssertion(() => Assert.Equal("Failed", Stage(waiting)), Patience);
        var session = await Bench.SessionAsync(sessionId);
        var wrong = Enumerable.Range(10, 90).First(n => n != session.ApprovalNumber);

        var decision = await Bench.WithAsync(s => s.GetRequiredService<LoginApprovals>()
            .DecideAsync(sessionId, wrong, new LoginRequester(System.Net.IPAddress.Parse("198.51.100.4"), "Firefox on Android")));

        Assert.Equal(ApprovalOutcome.Refused, decision.Outcome);
        Assert.Equal(LoginSessionState.Refused, (await Bench.SessionAsync(sessionId)).State);
        waiting.FindAll("button").Single(b => b.TextContent.Contains("Check status")).Click();
        waiting.WaitForAssertion(() => Assert.Equal("LoginRefused", Stage(waiting)), Patience);
        Assert.Contains(PasskeyMessages.LoginRefused, waiting.Markup);
        var events = await Bench.App.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(
            db.SecurityEvents.Where(e => e.UserId == session.UserId && e.Kind == Features.Activity.SecurityEventKind.SignInApprovalBlocked)));
        Assert.Single(events);

        // Even the right number cannot bring a refused login back.
        var late = await Bench.WithAsync(s => s.GetRequiredService<LoginApprovals>()
            .DecideAsync(sessionId, session.ApprovalNumber, new LoginRequester(null, null)));
        Assert.Equal(ApprovalOutcome.Unavailable, late.Outcome);
        Assert.False((await Bench.BeginLoginAsync(sessionId)).Succeeded);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Without_the_number_another_device_gets_no_ceremony_and_no_verification()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var before = await Bench.SessionSnapshotAsync(sessionId);

        var begin = await Bench.BeginLoginAsync(sessionId, LoginProof.None);
        var owner = await Bench.BeginLoginAsync(sessionId);
        var answer = await Bench.CompleteLoginAsync(sessionId, owner.CeremonyId, authenticator.GetAssertion(owner.OptionsJson!), LoginProof.None);

        Assert.Equal(PasskeyMessages.ApprovalNeeded, begin.Error);
        Assert.Equal(PasskeyMessages.ApprovalNeeded, answer.Error);
        Assert.Equal(before, await Bench.SessionSnapshotAsync(sessionId));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);
        authenticator.Dispose();
    }
}
