using System.Buffers.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>
/// The WebAuthn Signal API (WebAuthn L3 §5.1.10) in Chromium with a CDP virtual authenticator, which acts on the signals
/// as a passkey manager would: <c>signalAllAcceptedCredentials</c> and <c>signalUnknownCredential</c> delete the
/// credential (<c>WebAuthn.credentialDeleted</c>), <c>signalCurrentUserDetails</c> updates its user name and display name
/// (<c>WebAuthn.credentialUpdated</c>). Each test also records the calls the page made, with their exact arguments.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class PasskeySignalJourneyTests(BrowserFixture browser)
{
    private static readonly string[] SignalMethods = ["signalUnknownCredential", "signalAllAcceptedCredentials", "signalCurrentUserDetails"];

    /// <summary>Wraps each signal method so that its arguments land in <c>window.__signals</c>, then calls the browser's own.</summary>
    private static readonly string Recorder = $$"""
        window.__signals = [];
        for (const name of {{JsonSerializer.Serialize(SignalMethods)}}) {
            const original = window.PublicKeyCredential?.[name];
            if (typeof original !== "function") continue;
            PublicKeyCredential[name] = function (options) {
                window.__signals.push({ name, options: JSON.parse(JSON.stringify(options)) });
                return original.call(PublicKeyCredential, options);
            };
        }
        """;

    /// <summary>
    /// Holds the login's passkey dialog until the test calls <c>window.__releaseGet()</c>: the time a person takes to
    /// pick a passkey, during which the test deletes it elsewhere.
    /// </summary>
    private const string GetHeldUntilReleased = """
        (() => {
            const get = navigator.credentials.get.bind(navigator.credentials);
            navigator.credentials.get = options => new Promise(resolve => {
                window.__releaseGet = () => resolve(get(options));
            });
        })();
        """;

    private Task<string> UserIdAsync(string email) =>
        browser.App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

    /// <summary>CDP reports credential ids in base64; the Signal API and the portal use base64url.</summary>
    private static string IdOf(JsonElement credential) =>
        Base64Url.EncodeToString(Convert.FromBase64String(credential.GetProperty("credentialId").GetString()!));

    /// <summary>The credentials the authenticator holds once <paramref name="until"/> holds for them, or when the wait runs out.</summary>
    private static async Task<IReadOnlyList<JsonElement>> CredentialsAsync(VirtualAuthenticator authenticator, Func<IReadOnlyList<JsonElement>, bool> until)
    {
        var deadline = DateTime.UtcNow + BrowserFixture.ExpectTimeout;
        var credentials = await authenticator.GetCredentialsAsync();
        while (!until(credentials) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            credentials = await authenticator.GetCredentialsAsync();
        }

        return credentials;
    }

    /// <summary>The arguments of the page's calls of <paramref name="method"/> recorded so far in this document, oldest first.</summary>
    private static async Task<IReadOnlyList<JsonElement>> RecordedAsync(IPage page, string method)
    {
        await page.WaitForFunctionAsync($"() => window.__signals?.some(s => s.name === '{method}')");
        var signals = await page.EvaluateAsync<JsonElement>("() => window.__signals");
        return [.. signals.EnumerateArray().Where(s => s.GetProperty("name").GetString() == method).Select(s => s.GetProperty("options").Clone())];
    }

    private static string[] Ids(JsonElement allAccepted) =>
        [.. allAccepted.GetProperty("allAcceptedCredentialIds").EnumerateArray().Select(id => id.GetString()!).Order(StringComparer.Ordinal)];

    private static async Task DeletePasskeyAsync(IPage page, string name)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = $"Delete {name}" }).ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
    }

    private async Task ChangeEmailAsync(IPage page, string newEmail)
    {
        await page.GotoAsync("/account/email");
        await page.GetByLabel("New email address").FillAsync(newEmail);
        await page.GetByRole(AriaRole.Button, new() { Name = "Send a code" }).ClickAsync();
        await page.GetByLabel("Code").FillAsync(await Mailbox.LatestCodeAsync(browser.App, newEmail));
        await page.GetByRole(AriaRole.Button, new() { Name = "Change my address" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Your email address was changed.")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Deleting_a_passkey_removes_it_from_its_authenticator_and_keeps_the_other()
    {
        var page = await browser.NewPageAsync();
        await page.AddInitScriptAsync(Recorder);
        var laptop = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userHandle = PasskeySignals.UserHandleText(await UserIdAsync(email));
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        var laptopPasskey = Assert.Single(await laptop.GetCredentialsAsync());
        // One authenticator holds one discoverable passkey per account (a second one replaces the first), so the second
        // passkey is made on a security key. The laptop holds a passkey the portal's excludeCredentials names and would
        // refuse the ceremony once touched: nobody touches it while the security key makes the new passkey.
        var securityKey = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.UsbSecurityKey);
        await laptop.SetAutomaticPresenceSimulationAsync(false);
        await BrowserJourneys.AddPasskeyAsync(page, "Security key");
        await laptop.SetAutomaticPresenceSimulationAsync(true);
        var keyPasskey = Assert.Single(await securityKey.GetCredentialsAsync());
        Assert.Equal(IdOf(laptopPasskey), IdOf(Assert.Single(await laptop.GetCredentialsAsync())));
        string[] both = [.. new[] { IdOf(laptopPasskey), IdOf(keyPasskey) }.Order(StringComparer.Ordinal)];

        // A visit lists both (and the account's address): each authenticator keeps its passkey.
        await page.GotoAsync("/passkeys");
        await page.WaitForInteractiveAsync();
        var visit = Assert.Single(await RecordedAsync(page, "signalAllAcceptedCredentials"));
        Assert.Equal(("localhost", userHandle), (visit.GetProperty("rpId").GetString(), visit.GetProperty("userId").GetString()));
        Assert.Equal(both, Ids(visit));
        var details = Assert.Single(await RecordedAsync(page, "signalCurrentUserDetails"));
        Assert.Equal(
            ["localhost", userHandle, email, email],
            new[] { "rpId", "userId", "name", "displayName" }.Select(member => details.GetProperty(member).GetString()));
        Assert.Single(await laptop.GetCredentialsAsync());
        Assert.Single(await securityKey.GetCredentialsAsync());

        await DeletePasskeyAsync(page, "Laptop");
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(1);

        Assert.Empty(await CredentialsAsync(laptop, credentials => credentials.Count == 0));
        Assert.Equal(IdOf(keyPasskey), IdOf(Assert.Single(await securityKey.GetCredentialsAsync())));
        var afterDelete = (await RecordedAsync(page, "signalAllAcceptedCredentials"))[^1];
        Assert.Equal(("localhost", userHandle), (afterDelete.GetProperty("rpId").GetString(), afterDelete.GetProperty("userId").GetString()));
        Assert.Equal([IdOf(keyPasskey)], Ids(afterDelete));
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task A_passkey_deleted_while_the_login_dialog_was_open_is_refused_and_removed_from_the_authenticator()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);
        await BrowserJourneys.AddPasskeyAsync(page, "Phone");
        var phone = Assert.Single(await authenticator.GetCredentialsAsync());
        await BrowserJourneys.SignOutAsync(page);
        await page.AddInitScriptAsync(Recorder);
        await page.AddInitScriptAsync(GetHeldUntilReleased);

        await BrowserJourneys.LogInAsync(page, email);
        await page.WaitForAddressAsync(new Regex("/passkeys/verify\\?session="));
        await page.WaitForFunctionAsync("() => typeof window.__releaseGet === 'function'");
        // Deleted on another device while this browser's dialog was open; this passkey manager still offers it.
        Assert.Equal(1, await browser.App.WithDbAsync(db => db.Passkeys.Where(p => p.UserId == userId).ExecuteDeleteAsync()));
        await page.EvaluateAsync("() => window.__releaseGet()");

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Passkey login failed" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync(PasskeyMessages.NotThisAccount);
        Assert.Empty(await CredentialsAsync(authenticator, credentials => credentials.Count == 0));
        var unknown = Assert.Single(await RecordedAsync(page, "signalUnknownCredential"));
        Assert.Equal("localhost", unknown.GetProperty("rpId").GetString());
        Assert.Equal(IdOf(phone), unknown.GetProperty("credentialId").GetString());
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task After_an_email_change_the_passkey_shows_the_new_address()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userHandle = PasskeySignals.UserHandleText(await UserIdAsync(email));
        await BrowserJourneys.AddPasskeyAsync(page, "Phone");
        var phone = Assert.Single(await authenticator.GetCredentialsAsync());
        Assert.Equal((email, email), (phone.GetProperty("userName").GetString(), phone.GetProperty("userDisplayName").GetString()));
        await page.AddInitScriptAsync(Recorder);
        var newEmail = PortalScenario.NewEmail();

        await ChangeEmailAsync(page, newEmail);

        await Assertions.Expect(page.GetByTestId("passkey-user-details-signal")).ToHaveAttributeAsync("data-signal-outcome", "sent");
        var updated = Assert.Single(await CredentialsAsync(authenticator, credentials => credentials.All(c => c.GetProperty("userName").GetString() == newEmail)));
        Assert.Equal((newEmail, newEmail), (updated.GetProperty("userName").GetString(), updated.GetProperty("userDisplayName").GetString()));
        Assert.Equal(IdOf(phone), IdOf(updated));
        var details = Assert.Single(await RecordedAsync(page, "signalCurrentUserDetails"));
        Assert.Equal(
            ["localhost", userHandle, newEmail, newEmail],
            new[] { "rpId", "userId", "name", "displayName" }.Select(member => details.GetProperty(member).GetString()));
        await page.CloseContextAsync();
    }

    [Theory]
    [InlineData("without the Signal API", "unsupported")]
    [InlineData("whose Signal API rejects every call", "SecurityError")]
    public async Task A_browser_without_a_working_signal_api_manages_passkeys_as_before(string kind, string outcome)
    {
        var page = await browser.NewPageAsync();
        var pageErrors = new List<string>();
        page.PageError += (_, error) => pageErrors.Add(error);
        var consoleErrors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                consoleErrors.Add(message.Text);
            }
        };
        var methods = JsonSerializer.Serialize(SignalMethods);
        await page.AddInitScriptAsync(outcome == "unsupported"
            ? $"for (const name of {methods}) delete PublicKeyCredential[name];"
            : $"for (const name of {methods}) PublicKeyCredential[name] = () => Promise.reject(new DOMException('Refused by the test.', 'SecurityError'));");
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        Assert.Equal(
            outcome == "unsupported" ? "undefined" : "function",
            await page.EvaluateAsync<string>("() => typeof PublicKeyCredential.signalAllAcceptedCredentials"));

        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        await page.GotoAsync("/passkeys");
        await page.WaitForInteractiveAsync();
        await DeletePasskeyAsync(page, "Laptop");
        await Assertions.Expect(page.GetByTestId("passkey-status")).ToContainTextAsync("Passkey two-factor is off");
        // Nothing reached the authenticator: it still holds the deleted passkey, and the page goes on working.
        Assert.Single(await authenticator.GetCredentialsAsync());
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop again");
        await Assertions.Expect(page.GetByTestId("passkey-name")).ToHaveTextAsync("Laptop again");

        var newEmail = PortalScenario.NewEmail();
        await ChangeEmailAsync(page, newEmail);
        await Assertions.Expect(page.GetByTestId("passkey-user-details-signal")).ToHaveAttributeAsync("data-signal-outcome", outcome);
        Assert.Equal(email, Assert.Single(await authenticator.GetCredentialsAsync()).GetProperty("userName").GetString());

        await BrowserJourneys.SignOutAsync(page);
        await BrowserJourneys.LogInAsync(page, newEmail);
        await page.WaitForAddressAsync("/account");
        Assert.True(pageErrors.Count == 0, $"{kind}: {string.Join(" | ", pageErrors)}");
        Assert.True(consoleErrors.Count == 0, $"{kind}: {string.Join(" | ", consoleErrors)}");
        await page.CloseContextAsync();
    }
}
