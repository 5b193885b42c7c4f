using AccountsPortal.Data;
using AccountsPortal.Tests.Attacks;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>A circuit action that finds the database busy shows "try again" and keeps the page working.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DatabaseFailureJourneyTests(BrowserFixture browser)
{
    [Fact]
    public async Task Signing_out_everywhere_else_while_the_database_is_busy_says_try_again_keeps_the_circuit_and_works_afterwards()
    {
        var page = await browser.NewPageAsync();
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var elsewhere = await browser.NewPageAsync();
        await BrowserJourneys.LogInAsync(elsewhere, email);
        var userId = await browser.App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        Assert.Equal(2, await browser.App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));

        await page.GotoAsync("/account/sessions");
        await page.WaitForInteractiveAsync();
        var before = await DatabaseState.CaptureAsync(browser.App);
        await page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" }).ClickAsync();
        var yes = page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" });
        await using (await WriteLock.TakeAsync(browser.App.DatabasePath))
        {
            await yes.ClickAsync();
            // The write waits the busy timeout (five seconds by default), then the page says so.
            await Assertions.Expect(page.GetByTestId("page-failure")).ToHaveTextAsync(DatabaseFailures.BusyMessage, new() { Timeout = 30_000 });
        }

        await DatabaseState.AssertUnchangedAsync(browser.App, before);
        Assert.Equal(2, await browser.App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));

        // The same circuit: Try again renders the page afresh, and the action now goes through.
        await page.GetByRole(AriaRole.Button, new() { Name = "Try again" }).ClickAsync();
        var again = page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" });
        await again.ClickAsync();
        await yes.ClickAsync();
        await Assertions.Expect(again).ToBeDisabledAsync();
        Assert.Equal(1, await browser.App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));
        await Assertions.Expect(page.Locator("#blazor-error-ui")).ToBeHiddenAsync();
    }
}
