using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Components;

/// <summary>The authentication-code page of a login, in its interactive circuit, on the real services.</summary>
public sealed class TotpVerifyPageTests : PortalComponentTest
{
    private const string VisitorKey = "totp-verify-visitor";

    /// <summary>Renders the page as the browser that passed the password step (its pending-login cookie, carried from prerender).</summary>
    private IRenderedComponent<TotpVerify> RenderAsLoginBrowser(string sessionId)
    {
        PersistentState.Persist(VisitorKey, new VerifyVisitor(Bench.ProofOf(sessionId), "198.51.100.4"));
        Services.GetRequiredService<NavigationManager>().NavigateTo($"{TotpSecondFactor.VerifyPagePath}?session={Uri.EscapeDataString(sessionId)}");
        return Render<TotpVerify>();
    }

    private static string Stage(IRenderedComponent<TotpVerify> page) => page.Find("[data-testid=totp-stage]").GetAttribute("data-stage")!;

    /// <summary>Types a whole code: the field submits it by itself.</summary>
    private static void Type(IRenderedComponent<TotpVerify> page, string code) => page.Find("input").Input(code);

    [Fact]
    public async Task Wrong_codes_typed_on_the_page_close_the_login_at_its_limit()
    {
        var totp = new TotpBench(App);
        var userId = await Bench.CreateUserAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await Bench.StartLoginAsync(userId);
        var before = await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId);
        var wrong = totp.WrongCode(secret);
        var page = RenderAsLoginBrowser(sessionId);
        page.WaitForAssertion(() => Assert.Equal("Code", Stage(page)), Patience);

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            Type(page, wrong);
            // The alert reads the same after every wrong code: wait for this attempt's count instead.
            var counted = attempt;
            await page.WaitForAssertionAsync(async () => Assert.Equal(counted, (await Bench.SessionAsync(sessionId)).FailedAttempts), Patience);
            page.WaitForAssertion(() => Assert.Equal(TwoFactorMessages.WrongCode, page.Find("[role=alert]").TextContent.Trim()), Patience);
            Assert.Equal("Code", Stage(page));
            // The field is emptied after a refusal: the next code is typed anew.
            Type(page, "");
        }

        Type(page, wrong);

        page.WaitForAssertion(() => Assert.Equal("Closed", Stage(page)), Patience);
        Assert.Equal(TwoFactorMessages.TooManyAttempts, page.Find("[role=alert]").TextContent.Trim());
        Assert.Equal("/login", page.FindAll("a").Single(a => a.TextContent.Contains("Log in again")).GetAttribute("href"));
        Assert.Empty(page.FindAll("input"));
        var closed = await Bench.SessionAsync(sessionId);
        Assert.Equal(LoginSessionState.Failed, closed.State);
        Assert.Equal(5, closed.FailedAttempts);
        Assert.Equal(before, await Bench.AccountSnapshotAsync(userId) + await Bench.SessionSnapshotAsync(sessionId, withoutState: true));
        Assert.Equal(5, await totp.FailuresAsync(userId));
    }

    [Fact]
    public async Task The_right_code_typed_on_the_page_signs_in_through_the_completion_endpoint()
    {
        var totp = new TotpBench(App);
        var userId = await Bench.CreateUserAsync();
        var secret = await totp.EnableAsync(userId);
        App.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await Bench.StartLoginAsync(userId);
        var page = RenderAsLoginBrowser(sessionId);
        page.WaitForAssertion(() => Assert.Equal("Code", Stage(page)), Patience);

        Type(page, totp.CodeAt(secret, TimeSpan.Zero));

        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith(LoginSessionService.CompletionUrl(sessionId), navigation.Uri), Patience);
        Assert.Equal(LoginSessionState.Verified, (await Bench.SessionAsync(sessionId)).State);
        Assert.Equal(0, (await Bench.SessionAsync(sessionId)).FailedAttempts);
    }
}
