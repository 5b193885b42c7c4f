using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>What real browsers send when a passkey is added, in Chromium with a CDP virtual authenticator.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ClientInputJourneyTests(BrowserFixture browser)
{
    private Task<List<Passkey>> PasskeysOfAsync(string email) =>
        browser.App.WithDbAsync(db => db.Passkeys.AsNoTracking().Where(p => db.Users.Any(u => u.Id == p.UserId && u.Email == email)).ToListAsync());

    [Fact]
    public async Task A_registration_listing_transports_the_portal_does_not_know_is_stored_without_them()
    {
        var page = await browser.NewPageAsync();
        // Edit the credential JSON in the page, as a browser with newer transports would send it.
        await page.AddInitScriptAsync("""
            const toJSON = PublicKeyCredential.prototype.toJSON;
            PublicKeyCredential.prototype.toJSON = function () {
                const json = toJSON.call(this);
                if (json.response && json.response.attestationObject) json.response.transports = ["usb", "cable", "future-transport-x"];
                return json;
            };
            """);
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);

        await BrowserJourneys.AddPasskeyAsync(page, "Phone");

        var passkey = Assert.Single(await PasskeysOfAsync(email));
        Assert.Equal("usb", passkey.Transports);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task An_authenticator_saying_backed_up_but_not_backup_eligible_adds_nothing()
    {
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.BackedUpButNotEligible);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await page.GotoAsync("/passkeys");
        await page.WaitForInteractiveAsync();

        await page.GetByLabel("Passkey name").FillAsync("Faulty");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add passkey" }).ClickAsync();

        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync(PasskeyMessages.NotVerified);
        Assert.Empty(await PasskeysOfAsync(email));
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(0);
        await page.CloseContextAsync();
    }
}
