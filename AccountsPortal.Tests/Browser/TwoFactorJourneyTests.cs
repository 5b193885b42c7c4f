using System.Text.RegularExpressions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Playwright;
using OtpNet;

namespace AccountsPortal.Tests.Browser;

[Collection(BrowserCollection.Name)]
public sealed class TwoFactorJourneyTests(BrowserFixture browser)
{
    [Fact]
    public async Task Enable_an_authenticator_app_then_sign_in_with_a_code()
    {
        var page = await browser.NewPageAsync();
        var (email, _) = await BrowserJourneys.SignUpAsync(page);

        await page.GotoAsync("/two-factor");
        await page.WaitForInteractiveAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = "QR code for your authenticator app" })).ToBeVisibleAsync();
        var secret = Base32Encoding.ToBytes((await page.GetByTestId("totp-secret").InnerTextAsync()).Replace(" ", ""));

        // The app: the code for now. The page refuses a wrong one first.
        await page.GetByLabel("Authentication code").FillAsync("000000");
        await page.GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("not right");
        await page.GetByLabel("Authentication code").FillAsync(Rfc6238.Code(secret, DateTimeOffset.UtcNow));
        await page.GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("totp-status")).ToContainTextAsync("The authenticator app is on.");

        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, email);
        await page.WaitForAddressAsync(new Regex("/two-factor/verify\\?session="));
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Lost two-factor device" })).ToBeVisibleAsync();

        // The setup code's time step is used up; the field submits itself once the next step's code is typed.
        var next = DateTimeOffset.UtcNow;
        next = next.AddSeconds(30 - (next.ToUnixTimeSeconds() % 30));
        await page.GetByLabel("Authentication code").FillAsync(Rfc6238.Code(secret, next));

        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await Assertions.Expect(page.GetByTestId("second-factor-status")).ToHaveTextAsync("Authenticator app");
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Lost_passkey_recover_with_the_recovery_key_replace_the_passkey_and_sign_in_with_the_new_one()
    {
        var page = await browser.NewPageAsync();
        var lost = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, recoveryKey) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Lost phone");
        await BrowserJourneys.SignOutAsync(page);

        // The phone is gone: its authenticator no longer answers, so the dialog fails like a cancel.
        await BrowserJourneys.LogInAndFailThePasskeyAsync(page, lost, email);
        await page.GetByRole(AriaRole.Link, new() { Name = "Recover two-factor" }).ClickAsync();

        await page.WaitForAddressAsync(new Regex("/two-factor/recover\\?session="));
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Recover two-factor" })).ToBeVisibleAsync();
        await page.GetByLabel("Recovery key").FillAsync(recoveryKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Recover" }).ClickAsync();

        // A new recovery key, shown once; then the passkeys page with the notice.
        await page.WaitForAddressAsync("/account/recovery-key/new");
        var newKey = string.Join(' ', await page.GetByTestId("recovery-key-words").Locator("li").AllInnerTextsAsync());
        Assert.NotEqual(recoveryKey, newKey);
        await page.GetByLabel("I have saved my recovery key").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await page.WaitForAddressAsync("/passkeys?notice=recovered");
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByTestId("recovery-notice")).ToHaveTextAsync(
            "You signed in with your recovery key. Remove the passkey you lost and add a new one.");

        await page.GetByRole(AriaRole.Button, new() { Name = "Delete Lost phone" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(0);

        await lost.RemoveAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        await BrowserJourneys.AddPasskeyAsync(page, "New phone");

        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, email);
        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await page.CloseContextAsync();
    }
}
