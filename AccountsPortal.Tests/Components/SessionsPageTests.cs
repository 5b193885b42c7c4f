using System.Net;
using AccountsPortal.Features.Activity;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.EntityFrameworkCore;
using MudBlazor;
using SessionsPage = AccountsPortal.Features.Accounts.Sessions.Sessions;

namespace AccountsPortal.Tests.Components;

/// <summary>
/// The signed-in devices page driven as a person does, in its interactive circuit: its buttons and dialogs are
/// what is tested, with the portal's real services behind them and the other browsers and apps signed in over HTTP.
/// </summary>
public sealed class SessionsPageTests : PortalComponentTest
{
    /// <summary>An account signed in on a phone (a browser over HTTP) and in an app; the page renders as the laptop.</summary>
    private async Task<(string UserId, PortalScenario Phone, AppApiClient App, string Token, string Laptop)> SignedInEverywhereAsync()
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var phone = new PortalScenario(App);
        await phone.FollowAsync(await phone.LogInAsync(email));
        Assert.Equal(HttpStatusCode.OK, (await phone.Http.GetAsync("/account")).StatusCode);
        var app = new AppApiClient(App.CreatePortalClient());
        var token = (await AppApiClient.JsonAsync(await app.LogInAsync(email))).GetProperty("token").GetString()!;
        var laptop = await SignInAsync(userId, email);
        return (userId, phone, app, token, laptop);
    }

    private Task<List<string>> BrowserSessionsAsync(string userId) =>
        App.WithDbAsync(db => db.BrowserSessions.AsNoTracking().Where(s => s.UserId == userId).OrderBy(s => s.Id).Select(s => s.Id).ToListAsync());

    private Task<int> LiveTokensAsync(string userId) =>
        App.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId && t.RevokedAt == null));

    private static AngleSharp.Dom.IElement Button<T>(IRenderedComponent<T> rendered, string text)
        where T : Microsoft.AspNetCore.Components.IComponent =>
        rendered.FindAll("button").Single(b => b.TextContent.Trim() == text);

    [Fact]
    public async Task Sign_out_on_another_browsers_entry_signs_that_browser_out_and_only_it()
    {
        var (userId, phone, app, token, laptop) = await SignedInEverywhereAsync();
        var phoneSession = Assert.Single(await BrowserSessionsAsync(userId), id => id != laptop);
        var page = Render<SessionsPage>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=browser-session]").Count), Patience);

        // The only entry with its own Sign out button is the other browser's; this browser's is the usual sign-out form.
        var signOut = Assert.Single(page.FindAll("[data-testid=browser-session] button[aria-label^='Sign out ']"));
        signOut.Click();

        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=browser-session]")), Patience);
        Assert.Contains("This browser", page.Find("[data-testid=browser-session]").TextContent);
        Assert.Equal([laptop], await BrowserSessionsAsync(userId));
        Assert.True((await phone.Http.GetAsync("/account")).IsRedirect());
        // The app was not this button's business.
        Assert.Equal(1, await LiveTokensAsync(userId));
        Assert.Equal(HttpStatusCode.OK, (await app.MeAsync(token)).StatusCode);
        Assert.Equal(1, await App.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.SignedOutElsewhere)));
        Assert.NotEqual(laptop, phoneSession);
        phone.Dispose();
        app.Dispose();
    }

    [Fact]
    public async Task Sign_out_everywhere_else_asks_first_then_signs_out_every_other_browser_and_app()
    {
        var (userId, phone, app, token, laptop) = await SignedInEverywhereAsync();
        var dialogs = Render<MudDialogProvider>();
        var page = Render<SessionsPage>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=app-session]")), Patience);
        var sessionsBefore = await BrowserSessionsAsync(userId);
        Assert.Equal(2, sessionsBefore.Count);

        // Asked first: cancelling changes nothing.
        Button(page, "Sign out everywhere else").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Every other browser and every app signed in to your account will have to sign in again.", dialogs.Markup), Patience);
        Button(dialogs, "Cancel").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("Every other browser and every app", dialogs.Markup), Patience);
        Assert.Equal(sessionsBefore, await BrowserSessionsAsync(userId));
        Assert.Equal(1, await LiveTokensAsync(userId));
        Assert.Equal(HttpStatusCode.OK, (await phone.Http.GetAsync("/account")).StatusCode);

        Button(page, "Sign out everywhere else").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Every other browser and every app signed in to your account will have to sign in again.", dialogs.Markup), Patience);
        Button(dialogs, "Sign out everywhere else").Click();

        page.WaitForAssertion(() => Assert.Contains("No apps are signed in.", page.Markup), Patience);
        Assert.Single(page.FindAll("[data-testid=browser-session]"));
        Assert.Equal([laptop], await BrowserSessionsAsync(userId));
        Assert.Equal(0, await LiveTokensAsync(userId));
        Assert.True((await phone.Http.GetAsync("/account")).IsRedirect());
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.MeAsync(token)).StatusCode);
        phone.Dispose();
        app.Dispose();
    }
}
