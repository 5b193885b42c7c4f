using System.Text.RegularExpressions;
using AccountsPortal.Features.Passkeys.Providers;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

[Collection(BrowserCollection.Name)]
public sealed class PasskeyJourneyTests(BrowserFixture browser)
{
    [Fact]
    public async Task Platform_passkey_add_rename_sign_in_and_delete()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);

        await BrowserJourneys.AddPasskeyAsync(page, "  Laptop  ");

        var item = page.GetByTestId("passkey-item");
        await Assertions.Expect(item.GetByTestId("passkey-name")).ToHaveTextAsync("Laptop");
        await Assertions.Expect(item.GetByTestId("passkey-last-used")).ToHaveTextAsync("Never used");
        await Assertions.Expect(item.GetByTestId("passkey-sync")).ToHaveTextAsync("Synced");
        await Assertions.Expect(page.GetByTestId("passkey-status")).ToContainTextAsync("Passkey two-factor is on");
        Assert.Single(await authenticator.GetCredentialsAsync());

        await page.GetByRole(AriaRole.Button, new() { Name = "Rename Laptop" }).ClickAsync();
        var dialog = page.GetByRole(AriaRole.Dialog);
        await dialog.GetByLabel("Passkey name").FillAsync("Work laptop");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(item.GetByTestId("passkey-name")).ToHaveTextAsync("Work laptop");

        await page.GotoAsync("/account");
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(page.GetByTestId("second-factor-status")).ToHaveTextAsync("Passkeys");

        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, email);

        // The verify page opens the browser's dialog by itself; the virtual authenticator answers it.
        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);

        await page.GotoAsync("/passkeys");
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(item.GetByTestId("passkey-last-used")).ToContainTextAsync("Last used");

        await page.GetByRole(AriaRole.Button, new() { Name = "Delete Work laptop" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Dialog)).ToContainTextAsync(
            "Are you sure you want to delete this passkey? This action is irreversible.");
        await Assertions.Expect(page.GetByRole(AriaRole.Dialog)).ToContainTextAsync("passkey two-factor will be turned off");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(item).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("passkey-status")).ToContainTextAsync("Passkey two-factor is off");

        // Without passkeys, login asks only for the password again.
        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, email);
        await page.WaitForAddressAsync("/account");
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task The_list_shows_a_listed_provider_with_its_icon_for_the_theme_and_none_for_an_unlisted_aaguid()
    {
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var providers = browser.App.Services.GetRequiredService<PasskeyProviders>();
        IQueryable<Features.Passkeys.Passkey> Own(Data.PortalDbContext db) => db.Passkeys.Where(p => db.Users.Any(u => u.Id == p.UserId && u.Email == email));

        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");

        // Chromium's virtual authenticator reports an AAGUID the list does not name: no provider, no icon.
        var item = page.GetByTestId("passkey-item");
        await Assertions.Expect(item.GetByTestId("passkey-name")).ToHaveTextAsync("Laptop");
        Assert.Null(providers.Find(await browser.App.WithDbAsync(db => Own(db).Select(p => p.Aaguid).SingleAsync())));
        await Assertions.Expect(item.GetByTestId("passkey-provider")).ToHaveCountAsync(0);
        await Assertions.Expect(item.Locator("img")).ToHaveCountAsync(0);

        // As if the passkey had reported 1Password's AAGUID when it was added (listed with one icon per theme).
        var onePassword = Guid.Parse("bada5566-a7aa-401f-bd96-45619a55120d");
        var listed = providers.Find(onePassword)!;
        await browser.App.WithDbAsync(db => Own(db).ExecuteUpdateAsync(set => set.SetProperty(p => p.Aaguid, onePassword)));
        await page.ReloadAsync();
        await page.WaitForInteractiveAsync();

        await Assertions.Expect(item.GetByTestId("passkey-provider-name")).ToHaveTextAsync("1Password");
        await Assertions.Expect(item.GetByTestId("passkey-provider-note")).ToHaveTextAsync("(reported by the passkey)");
        var icon = item.GetByRole(AriaRole.Img, new() { Name = "1Password logo" });
        await Assertions.Expect(icon).ToHaveAttributeAsync("src", listed.LightIcon!);
        // Loaded and drawn: the Content Security Policy (img-src 'self' data:) lets the data: URI through.
        await icon.EvaluateAsync("img => img.decode()");
        Assert.True(await icon.EvaluateAsync<int>("img => img.naturalWidth") > 0);

        await page.GetByRole(AriaRole.Button, new() { Name = "Switch to dark theme" }).ClickAsync();

        await Assertions.Expect(icon).ToHaveAttributeAsync("src", listed.DarkIcon!);
        await icon.EvaluateAsync("img => img.decode()");
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Usb_security_key_without_resident_keys_signs_in()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.UsbSecurityKey);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);

        await BrowserJourneys.AddPasskeyAsync(page, "YubiKey");
        await Assertions.Expect(page.GetByTestId("passkey-sync")).ToHaveTextAsync("This device only");
        var credential = Assert.Single(await authenticator.GetCredentialsAsync());
        Assert.False(credential.GetProperty("isResidentCredential").GetBoolean());

        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, email);

        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Cancelling_the_passkey_dialog_offers_try_again_and_recover_two_factor()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Phone");
        await BrowserJourneys.SignOutAsync(page);

        await BrowserJourneys.LogInAndFailThePasskeyAsync(page, authenticator, email);

        await Assertions.Expect(page.GetByText("If your passkeys are on a different device, you can open this page on that device to verify.")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Try again" })).ToBeVisibleAsync();
        var recover = page.GetByRole(AriaRole.Link, new() { Name = "Recover two-factor" });
        await Assertions.Expect(recover).ToHaveAttributeAsync("href", new Regex("^/two-factor/recover\\?session="));
        await Assertions.Expect(page.GetByText("Waiting for verification")).ToBeVisibleAsync();
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Verifying_on_another_device_signs_in_the_waiting_browser()
    {
        // The "phone" holds the passkey; the "new laptop" has none.
        var phone = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(phone, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(phone);
        await BrowserJourneys.AddPasskeyAsync(phone, "Phone");
        await BrowserJourneys.SignOutAsync(phone);

        var laptop = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(laptop, VirtualAuthenticatorKind.PlatformWithUserVerification);
        await BrowserJourneys.LogInAsync(laptop, email);
        await laptop.WaitForAddressAsync(new Regex("/passkeys/verify\\?session="));
        var verifyUrl = laptop.Url;

        // The laptop shows its approval number; the phone shows what asks and three numbers, and opens no dialog until the right pick.
        var number = await laptop.GetByTestId("approval-number").InnerTextAsync();
        await phone.GotoAsync(verifyUrl);
        await Assertions.Expect(phone.GetByRole(AriaRole.Heading, new() { Name = "Is this you signing in?" })).ToBeVisibleAsync();
        await Assertions.Expect(phone.GetByTestId("approval-choice")).ToHaveCountAsync(3);
        await phone.GetByRole(AriaRole.Button, new() { Name = number, Exact = true }).ClickAsync();
        await Assertions.Expect(phone.GetByText("Verified — return to the device you are signing in on.")).ToBeVisibleAsync();
        Assert.Contains("/passkeys/verify", phone.Url);

        await laptop.WaitForAddressAsync("/account");
        await Assertions.Expect(laptop.GetByTestId("account-email")).ToHaveTextAsync(email);

        // The phone itself was not signed in by verifying.
        await phone.GotoAsync("/account");
        await phone.WaitForAddressAsync(new Regex("/login\\?returnUrl="));
        await phone.CloseContextAsync();
        await laptop.CloseContextAsync();
    }
    [Fact]
    public async Task A_wrong_number_or_this_wasnt_me_on_a_copied_link_refuses_the_waiting_browser()
    {
        // The owner's phone holds the passkey and stays signed in; an attacker with the password sends the owner the link.
        var phone = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(phone, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(phone);
        await BrowserJourneys.AddPasskeyAsync(phone, "Phone");

        foreach (var refusal in new[] { "wrong number", "This wasn't me" })
        {
            var attacker = await browser.NewPageAsync();
            await VirtualAuthenticator.AddAsync(attacker, VirtualAuthenticatorKind.PlatformWithUserVerification);
            await BrowserJourneys.LogInAsync(attacker, email);
            await attacker.WaitForAddressAsync(new Regex("/passkeys/verify\\?session="));
            var number = await attacker.GetByTestId("approval-number").InnerTextAsync();

            await phone.GotoAsync(attacker.Url);
            await Assertions.Expect(phone.GetByRole(AriaRole.Heading, new() { Name = "Is this you signing in?" })).ToBeVisibleAsync();
            var choices = await phone.GetByTestId("approval-choice").AllInnerTextsAsync();
            Assert.Contains(number, choices);
            var button = refusal == "wrong number"
                ? phone.GetByRole(AriaRole.Button, new() { Name = choices.First(c => c != number), Exact = true })
                : phone.GetByRole(AriaRole.Button, new() { Name = "This wasn't me" });
            await button.ClickAsync();

            // Both ends say so; no dialog opened on the phone and the attacker is not signed in.
            await Assertions.Expect(phone.GetByRole(AriaRole.Heading, new() { Name = "Sign-in refused" })).ToBeVisibleAsync();
            await Assertions.Expect(attacker.GetByRole(AriaRole.Heading, new() { Name = "Sign-in refused" })).ToBeVisibleAsync();
            await attacker.GotoAsync("/account");
            await attacker.WaitForAddressAsync(new Regex("/login\\?returnUrl="));
            await attacker.CloseContextAsync();
        }

        await phone.GotoAsync("/account/activity");
        await Assertions.Expect(phone.GetByText(new Regex("^Blocked a sign-in approval from"))).ToHaveCountAsync(2);
        await phone.CloseContextAsync();
    }
}
