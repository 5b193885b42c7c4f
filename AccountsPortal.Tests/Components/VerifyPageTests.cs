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

    private async Task<(string SessionId, SoftwareAuthenticator Authenticator)> LoginAwaitingPasskeyAsync()
    {
        var userId = await Bench.CreateUserAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        return (await Bench.StartLoginAsync(userId), authenticator);
    }

    private IRenderedComponent<VerifyPage> RenderVerify(string sessionId, bool startedHere, string query = "")
    {
        PersistentState.Persist(StartedHereKey, startedHere);
        Services.GetRequiredService<NavigationManager>().NavigateTo($"/passkeys/verify?session={Uri.EscapeDataString(sessionId)}{query}");
        return Render<VerifyPage>();
    }

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
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["get"]));
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith(LoginSessionService.CompletionUrl(sessionId), navigation.Uri));
        Assert.Equal(LoginSessionState.Verified, (await Bench.SessionAsync(sessionId)).State);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Verifying_for_another_device_says_to_return_there()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: false);
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["get"]));
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        page.WaitForAssertion(() => Assert.Contains("Verified — return to the device you are signing in on.", page.Markup));
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

        page.WaitForAssertion(() => Assert.Equal("Passkey login failed", page.Find("h1").TextContent));
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
        page.WaitForAssertion(() => Assert.Equal("Failed", Stage(page)));

        page.FindAll("button").Single(b => b.TextContent.Contains("Try again")).Click();

        page.WaitForAssertion(() => Assert.Equal(2, PasskeyModule.Invocations["get"].Count));
        authenticator.Dispose();
    }

    [Fact]
    public async Task Another_browser_error_shows_its_reason()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        PasskeyModule.Setup<BrowserCredential>("get", _ => true)
            .SetResult(new BrowserCredential(false, null, "SecurityError", "The relying party ID is not a registrable domain suffix."));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("Passkey login failed", page.Find("h1").TextContent));
        Assert.Equal("Your browser could not use a passkey: The relying party ID is not a registrable domain suffix.", page.Find("[role=alert]").TextContent.Trim());
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_refused_assertion_shows_the_reason_and_counts_the_attempt()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);

        var page = RenderVerify(sessionId, startedHere: true);
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["get"]));
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get"), new AssertionOverrides { TamperSignature = true }), null, null));

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.NotVerified, page.Find("[role=alert]").TextContent.Trim()));
        Assert.Equal(1, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        authenticator.Dispose();
    }

    [Fact]
    public async Task For_an_app_the_page_names_it_and_returns_to_it_after_verification()
    {
        var (sessionId, authenticator) = await AppLoginAwaitingPasskeyAsync();
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        var query = $"&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}";

        var page = RenderVerify(sessionId, startedHere: false, query);
        page.WaitForAssertion(() => Assert.Equal("Continue to Test App", page.Find("h1").TextContent));
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["get"]));
        get.SetResult(new BrowserCredential(true, authenticator.GetAssertion(LastOptions("get")), null, null));

        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith($"/apps/return?session={sessionId}{query}", navigation.Uri));
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

        page.WaitForAssertion(() => Assert.Contains(reason, page.Find("[role=alert]").TextContent));
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

        page.WaitForAssertion(() => Assert.Equal("This login session has expired", page.Find("h1").TextContent));
        Assert.Equal("/login", page.FindAll("a").Single(a => a.TextContent.Contains("Log in again")).GetAttribute("href"));
        Assert.Empty(PasskeyModule.Invocations["get"]);
    }

    [Fact]
    public async Task An_expired_session_says_so_without_opening_the_dialog()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        App.Time.Advance(TimeSpan.FromMinutes(11));

        var page = RenderVerify(sessionId, startedHere: true);

        page.WaitForAssertion(() => Assert.Equal("This login session has expired", page.Find("h1").TextContent));
        Assert.Empty(PasskeyModule.Invocations["get"]);
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_already_verified_session_opened_elsewhere_says_so()
    {
        var (sessionId, authenticator) = await LoginAwaitingPasskeyAsync();
        Assert.True((await Bench.LogInAsync(sessionId, authenticator)).Succeeded);

        var page = RenderVerify(sessionId, startedHere: false);

        page.WaitForAssertion(() => Assert.Contains("This login has already been verified.", page.Markup));
        Assert.Empty(PasskeyModule.Invocations["get"]);
        authenticator.Dispose();
    }
}
