using System.Text.RegularExpressions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

[Collection(BrowserCollection.Name)]
public sealed class AccountJourneyTests(BrowserFixture browser)
{
    [Fact]
    public async Task Sign_up_save_the_recovery_key_sign_out_and_sign_in_again()
    {
        var page = await browser.NewPageAsync();
        var email = PortalScenario.NewEmail();

        await page.GotoAsync("/signup");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(PortalScenario.StrongPassword);
        await Assertions.Expect(page.Locator("#password-strength")).ToContainTextAsync("Strength:");
        await page.GetByLabel("Confirm password").FillAsync(PortalScenario.StrongPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign up" }).ClickAsync();

        // The address is verified first: the page says what is pending, the code comes by email.
        await page.WaitForAddressAsync("/signup/verify");
        await Assertions.Expect(page.GetByTestId("verify-email-address")).ToContainTextAsync(email);
        await page.GetByLabel("Code").FillAsync(await Mailbox.LatestCodeAsync(browser.App, email));
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await page.WaitForAddressAsync("/account/recovery-key/new");
        var words = await page.GetByTestId("recovery-key-words").Locator("li").AllInnerTextsAsync();
        Assert.Equal(24, words.Count);
        Assert.True(RecoveryKeyCodec.Parse(string.Join(' ', words)).Succeeded);

        await page.GetByRole(AriaRole.Button, new() { Name = "Copy" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Copied to the clipboard.");
        Assert.Equal(string.Join(' ', words), await page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));

        var download = await page.RunAndWaitForDownloadAsync(() =>
            page.GetByRole(AriaRole.Button, new() { Name = "Download" }).ClickAsync());
        Assert.Matches(@"^accountsportal-recovery-key-\d{4}-\d{2}-\d{2}\.txt$", download.SuggestedFilename);
        var file = await File.ReadAllTextAsync((await download.PathAsync())!);
        Assert.Contains(string.Join(' ', words), file);
        Assert.Contains(email, file);

        // Continue is refused by the browser until the confirmation is ticked.
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        Assert.EndsWith("/account/recovery-key/new", page.Url);
        await page.GetByLabel("I have saved my recovery key").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();

        await page.WaitForAddressAsync("/account");
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await Assertions.Expect(page.GetByTestId("second-factor-status")).ToContainTextAsync("None");

        await page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForAddressAsync("/login?notice=signed-out");
        await Assertions.Expect(page.GetByText("You are signed out.")).ToBeVisibleAsync();

        await page.GotoAsync("/account");
        await page.WaitForAddressAsync(new Regex("/login\\?returnUrl=%2Faccount$"));
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(PortalScenario.StrongPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Log in" }).ClickAsync();

        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task An_open_page_of_a_browser_signed_out_elsewhere_stops_by_itself()
    {
        var here = await browser.NewPageAsync();
        var (email, _) = await BrowserJourneys.SignUpAsync(here);
        var elsewhere = await browser.NewPageAsync();
        await BrowserJourneys.LogInAsync(elsewhere, email);
        await elsewhere.WaitForAddressAsync("/account");
        await elsewhere.GotoAsync("/account/sessions");
        await elsewhere.WaitForInteractiveAsync();

        await here.GotoAsync("/account/sessions");
        await here.WaitForInteractiveAsync();
        await here.GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" }).ClickAsync();
        await here.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" }).ClickAsync();
        await Assertions.Expect(here.GetByText("Signed out everywhere else.")).ToBeVisibleAsync();

        // Nobody touches the other page: its circuit re-checks the session and sends it to the login page.
        await elsewhere.WaitForAddressAsync(new Regex("/login\\?returnUrl=%2Faccount%2Fsessions"));
        await Assertions.Expect(elsewhere.GetByRole(AriaRole.Button, new() { Name = "Log in" })).ToBeVisibleAsync();
        await here.ReloadAsync();
        await Assertions.Expect(here.GetByTestId("browser-session")).ToHaveCountAsync(1);
        await here.CloseContextAsync();
        await elsewhere.CloseContextAsync();
    }

    [Fact]
    public async Task A_wrong_password_shows_the_same_message_as_an_unknown_email()
    {
        var page = await browser.NewPageAsync();

        await page.GotoAsync("/login");
        await page.GetByLabel("Email").FillAsync(PortalScenario.NewEmail());
        await page.GetByLabel("Password").FillAsync("whatever it is");
        await page.GetByRole(AriaRole.Button, new() { Name = "Log in" }).ClickAsync();

        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Incorrect email or password.");
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task The_theme_toggle_switches_to_dark_and_back()
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/");
        await page.WaitForInteractiveAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "Switch to dark theme" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Switch to light theme" })).ToBeVisibleAsync();
        var darkBackground = await BackgroundAsync(page);
        // The page was loaded anew: a click while its circuit starts could land on a node being replaced.
        await page.WaitForInteractiveAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "Switch to light theme" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Switch to dark theme" })).ToBeVisibleAsync();

        Assert.NotEqual(darkBackground, await BackgroundAsync(page));
        await page.CloseContextAsync();
    }

    [Theory]
    [InlineData(VirtualAuthenticatorKind.PlatformWithUserVerification)]
    [InlineData(VirtualAuthenticatorKind.UsbSecurityKey)]
    [InlineData(VirtualAuthenticatorKind.U2fSecurityKey)]
    public async Task Virtual_authenticators_answer_webauthn_on_the_portal_origin(VirtualAuthenticatorKind kind)
    {
        var page = await browser.NewPageAsync();
        await page.GotoAsync("/");
        var authenticator = await VirtualAuthenticator.AddAsync(page, kind);

        var created = await page.EvaluateAsync<string>(@"async () => {
            const credential = await navigator.credentials.create({ publicKey: {
                challenge: crypto.getRandomValues(new Uint8Array(32)),
                rp: { id: location.hostname, name: 'Test' },
                user: { id: crypto.getRandomValues(new Uint8Array(16)), name: 'a@example.test', displayName: 'A' },
                pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
                authenticatorSelection: { residentKey: 'discouraged', userVerification: 'discouraged' },
                attestation: 'none' } });
            return credential.type;
        }");

        Assert.Equal("public-key", created);
        Assert.Single(await authenticator.GetCredentialsAsync());
        await page.CloseContextAsync();
    }

    private static Task<string> BackgroundAsync(IPage page) =>
        page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
}
