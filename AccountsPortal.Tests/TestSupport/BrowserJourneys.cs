using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>The steps many browser tests share, done the way a person does them.</summary>
public static class BrowserJourneys
{
    /// <summary>Signs up, confirms the recovery key was saved, and lands on the account page. Returns the email and the key.</summary>
    public static async Task<(string Email, string RecoveryKey)> SignUpAsync(IPage page)
    {
        var email = PortalScenario.NewEmail();
        await page.GotoAsync("/signup");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(PortalScenario.StrongPassword);
        await page.GetByLabel("Confirm password").FillAsync(PortalScenario.StrongPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign up" }).ClickAsync();
        // The address is verified with the code emailed to it (read from the portal's pickup directory).
        await page.WaitForAddressAsync("/signup/verify");
        await page.GetByLabel("Code").FillAsync(await Mailbox.LatestCodeAsync(BrowserFixture.AppOf(page), email));
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await page.WaitForAddressAsync("/account/recovery-key/new");
        var words = await page.GetByTestId("recovery-key-words").Locator("li").AllInnerTextsAsync();
        await page.GetByLabel("I have saved my recovery key").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await page.WaitForAddressAsync("/account");
        return (email, string.Join(' ', words));
    }

    /// <summary>The password step; the page is then wherever login leads (account page or a verify page).</summary>
    public static async Task LogInAsync(IPage page, string email, string password = PortalScenario.StrongPassword)
    {
        await page.GotoAsync("/login");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Log in" }).ClickAsync();
    }

    public static async Task SignOutAsync(IPage page)
    {
        await page.GotoAsync("/account");
        await page.WaitForInteractiveAsync();
        await page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForAddressAsync("/login?notice=signed-out");
    }

    /// <summary>
    /// Logs in to an account whose passkey this device cannot use (its authenticator refuses user
    /// verification, as when the dialog is cancelled) and waits for "Passkey login failed".
    /// </summary>
    public static async Task LogInAndFailThePasskeyAsync(IPage page, VirtualAuthenticator authenticator, string email)
    {
        await authenticator.SetUserVerifiedAsync(false);
        await LogInAsync(page, email);
        await page.WaitForAddressAsync(new Regex("/passkeys/verify\\?session="));
        await page.WaitForInteractiveAsync();

        var stage = page.GetByTestId("verify-stage");
        await Assertions.Expect(stage).ToHaveAttributeAsync("data-stage", new Regex("^(NeedsClick|Failed)$"));
        if (await stage.GetAttributeAsync("data-stage") == "NeedsClick")
        {
            // This browser wanted a click before opening the dialog.
            await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        }

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Passkey login failed" })).ToBeVisibleAsync();
    }

    /// <summary>Adds a passkey on the passkeys page with the page's virtual authenticator.</summary>
    public static async Task AddPasskeyAsync(IPage page, string name)
    {
        if (!page.Url.EndsWith("/passkeys", StringComparison.Ordinal))
        {
            await page.GotoAsync("/passkeys");
        }

        await page.WaitForInteractiveAsync();
        var items = page.GetByTestId("passkey-item");
        var before = await items.CountAsync();
        var nameField = page.GetByLabel("Passkey name");
        await nameField.FillAsync(name);
        await Assertions.Expect(nameField).ToHaveValueAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Add passkey" }).ClickAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var sinceClick = System.Diagnostics.Stopwatch.StartNew();
        for (var clicks = 1; await items.CountAsync() != before + 1;)
        {
            // A child portal's first ceremony on a loaded machine (cold start, several suites at once) can take a while.
            if (started.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new InvalidOperationException($"No passkey was added within 90 s ({clicks} clicks). {await page.DescribeAsync()}");
            }

            if (clicks < 3 && await page.ClickAddPasskeyAgainIfLostAsync(name, sinceClick.Elapsed))
            {
                clicks++;
                sinceClick.Restart();
            }

            await Task.Delay(100);
        }
    }
}
