using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OtpNet;

namespace AccountsPortal.Tests.Browser;

/// <summary>
/// "Confirm it's you" in a real browser, on a portal whose confirmation window is six seconds: each journey
/// waits past the window, then makes a security change, and the portal asks for the account's strongest factor
/// (password, authenticator-app code or passkey, or the recovery key where it may stand in) before changing anything.
/// </summary>
[Collection(ShortConfirmationWindowBrowserCollection.Name)]
public sealed class ConfirmItsYouJourneyTests(ShortConfirmationWindowBrowserFixture browser)
{
    /// <summary>An authenticator app's time step (RFC 6238): a new code every 30 seconds.</summary>
    private const int TotpStepSeconds = 30;

    [Fact]
    public async Task A_password_account_confirms_with_its_password_before_turning_on_the_authenticator_app()
    {
        var page = await browser.NewPageAsync();
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);
        await page.GotoAsync("/two-factor");
        await page.WaitForInteractiveAsync();

        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();

        // The sign-up is no longer recent: the password, the only factor, is asked for.
        var dialog = ConfirmDialog(page);
        await Assertions.Expect(dialog).ToContainTextAsync("For your security, confirm it's you before you turn on an authenticator app.");
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" })).ToHaveCountAsync(0);
        await Assertions.Expect(dialog.GetByLabel("Code from your authenticator app")).ToHaveCountAsync(0);
        var before = await SnapshotAsync(userId);

        await dialog.GetByLabel("Password").FillAsync("not the password");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Alert)).ToHaveTextAsync(Confirmations.WrongPassword);
        await Assertions.Expect(page.GetByTestId("totp-secret")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = "QR code for your authenticator app" })).ToHaveCountAsync(0);
        Assert.Equal(before, await SnapshotAsync(userId));
        Assert.False(await browser.App.WithDbAsync(db => db.TotpAuthenticators.AnyAsync(t => t.UserId == userId)));

        await dialog.GetByLabel("Password").FillAsync(PortalScenario.StrongPassword);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Img, new() { Name = "QR code for your authenticator app" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("totp-secret")).ToHaveTextAsync(new Regex("^[A-Z2-7 ]{16,}$"));
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task An_authenticator_app_account_confirms_with_a_code_before_turning_it_off()
    {
        var page = await browser.NewPageAsync();
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);
        var secret = await EnableAuthenticatorAppAsync(page);
        var enableStep = await browser.App.WithDbAsync(db => db.TotpAuthenticators.Where(t => t.UserId == userId).Select(t => t.LastAcceptedStep).SingleAsync());

        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();
        await page.GetByLabel("Yes, turn it off").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();

        // A code from the app, not the password; the recovery key may stand in for the app about to be turned off.
        var dialog = ConfirmDialog(page);
        await Assertions.Expect(dialog).ToContainTextAsync("For your security, confirm it's you before you turn off the authenticator app.");
        await Assertions.Expect(dialog.GetByLabel("Password")).ToHaveCountAsync(0);
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your recovery key instead" })).ToBeVisibleAsync();
        var before = await SnapshotAsync(userId);

        await dialog.GetByLabel("Code from your authenticator app").FillAsync(WrongCode(secret, enableStep));
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Alert)).ToHaveTextAsync(TwoFactorMessages.WrongCode);
        Assert.Equal(before, await SnapshotAsync(userId));
        Assert.True(await browser.App.WithDbAsync(db => db.TotpAuthenticators.AnyAsync(t => t.UserId == userId)));
        await Assertions.Expect(page.GetByTestId("totp-status")).ToHaveCountAsync(0);

        // A code the app shows now or one step ahead (a clock a little fast; the portal accepts one step either way).
        // The step used to turn the app on is used up, so the code is for a later one, waiting only when even the next
        // step is too close to it.
        var current = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / TotpStepSeconds;
        var step = Math.Max(current, enableStep + 1);
        if (step > current + 1)
        {
            await Task.Delay(DateTimeOffset.FromUnixTimeSeconds((step - 1) * TotpStepSeconds) - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200));
        }

        await dialog.GetByLabel("Code from your authenticator app").FillAsync(Rfc6238.Code(secret, DateTimeOffset.FromUnixTimeSeconds(step * TotpStepSeconds)));
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("totp-status")).ToContainTextAsync("The authenticator app is off.");
        Assert.False(await browser.App.WithDbAsync(db => db.TotpAuthenticators.AnyAsync(t => t.UserId == userId)));
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task A_passkey_account_confirms_with_its_passkey_before_deleting_it()
    {
        var page = await browser.NewPageAsync();
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);
        await AddPasskeyAsync(page, "Phone");
        var credential = Assert.Single(await authenticator.GetCredentialsAsync());

        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();
        var dialog = await DeleteTheOnlyPasskeyAsync(page, "Phone");

        // The passkey, never the password; the recovery key may stand in for the last passkey.
        await Assertions.Expect(dialog).ToContainTextAsync("For your security, confirm it's you before you delete this passkey.");
        await Assertions.Expect(dialog.GetByLabel("Password")).ToHaveCountAsync(0);
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your recovery key instead" })).ToBeVisibleAsync();
        var before = await SnapshotAsync(userId);

        // This device no longer holds the passkey: the browser's dialog finds none and gives up.
        await authenticator.RemoveAllCredentialsAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" }).ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Status)).ToHaveTextAsync("No passkey was used. Try again when you are ready.");
        await Assertions.Expect(page.GetByTestId("confirm-its-you")).ToHaveAttributeAsync("data-stage", "Ready");
        Assert.Equal(before, await SnapshotAsync(userId));
        Assert.Single(await PasskeysOfAsync(userId));
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(1);

        // The passkey is back on the device (synced again): it confirms, and the passkey is deleted.
        await authenticator.AddCredentialAsync(credential);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("passkey-status")).ToContainTextAsync("Passkey two-factor is off");
        Assert.Empty(await PasskeysOfAsync(userId));
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Signing_out_everywhere_else_asks_a_passkey_account_for_its_passkey()
    {
        var phone = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(phone, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(phone);
        var userId = await UserIdAsync(email);
        await AddPasskeyAsync(phone, "Phone");

        // A laptop signs in too, approved on the phone with its passkey.
        var laptop = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(laptop, VirtualAuthenticatorKind.PlatformWithUserVerification);
        await BrowserJourneys.LogInAsync(laptop, email);
        await laptop.WaitForAddressAsync(new Regex("/passkeys/verify\\?session="));
        var number = await laptop.GetByTestId("approval-number").InnerTextAsync();
        await phone.GotoAsync(laptop.Url);
        await phone.GetByRole(AriaRole.Button, new() { Name = number, Exact = true }).ClickAsync();
        await laptop.WaitForAddressAsync("/account");
        Assert.Equal(2, await browser.App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));

        await phone.GotoAsync("/account/sessions");
        await phone.WaitForInteractiveAsync();
        await Assertions.Expect(phone.GetByTestId("browser-session")).ToHaveCountAsync(2);
        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();

        var dialog = await SignOutEverywhereElseAsync(phone);
        await Assertions.Expect(dialog).ToContainTextAsync("For your security, confirm it's you before you sign out everywhere else.");
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" })).ToBeVisibleAsync();
        await Assertions.Expect(dialog.GetByLabel("Password")).ToHaveCountAsync(0);
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your recovery key instead" })).ToHaveCountAsync(0);

        // Cancelled: nobody is signed out.
        var before = await SnapshotAsync(userId);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        Assert.Equal(before, await SnapshotAsync(userId));
        await Assertions.Expect(phone.GetByTestId("browser-session")).ToHaveCountAsync(2);

        dialog = await SignOutEverywhereElseAsync(phone);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" }).ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(phone.GetByText("Signed out everywhere else.")).ToBeVisibleAsync();
        await Assertions.Expect(phone.GetByTestId("browser-session")).ToHaveCountAsync(1);
        Assert.Equal(1, await browser.App.WithDbAsync(db => db.BrowserSessions.CountAsync(s => s.UserId == userId)));

        await laptop.GotoExpectingRedirectAsync("/account", new Regex("/login\\?returnUrl="));
        await phone.CloseContextAsync();
        await laptop.CloseContextAsync();
    }

    [Fact]
    public async Task Deleting_the_last_passkey_can_be_confirmed_with_the_recovery_key_which_is_then_replaced()
    {
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, recoveryKey) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);
        await AddPasskeyAsync(page, "Lost phone");

        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();
        var dialog = await DeleteTheOnlyPasskeyAsync(page, "Lost phone");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Use your recovery key instead" }).ClickAsync();

        // Another well-formed key is refused and changes nothing.
        var before = await SnapshotAsync(userId);
        await dialog.GetByLabel("Recovery key").FillAsync(string.Join(' ', RecoveryKeyCodec.ToWords(RandomNumberGenerator.GetBytes(RecoveryKeyCodec.KeyLength))));
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(dialog.GetByRole(AriaRole.Alert)).ToHaveTextAsync(TwoFactorMessages.IncorrectRecoveryKey);
        Assert.Equal(before, await SnapshotAsync(userId));
        Assert.True(await RecoveryKeyMatchesAsync(userId, recoveryKey));
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(1);

        // The key saved at sign-up: it is used up and replaced, and the new one is shown before the passkey goes.
        await dialog.GetByLabel("Recovery key").FillAsync(recoveryKey);
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        var words = dialog.GetByTestId("recovery-key-words").Locator("li");
        await Assertions.Expect(words).ToHaveCountAsync(RecoveryKeyCodec.WordsPerKey);
        var newKey = string.Join(' ', await words.AllInnerTextsAsync());
        Assert.NotEqual(recoveryKey, newKey);
        Assert.Single(await PasskeysOfAsync(userId));
        await dialog.GetByLabel("I have saved my new recovery key").CheckAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();

        await Assertions.Expect(dialog).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("passkey-item")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByTestId("passkey-status")).ToContainTextAsync("Passkey two-factor is off");
        Assert.Empty(await PasskeysOfAsync(userId));
        Assert.False(await RecoveryKeyMatchesAsync(userId, recoveryKey));
        Assert.True(await RecoveryKeyMatchesAsync(userId, newKey));

        // Every other browser was signed out; this one stays signed in.
        await page.GotoAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task A_new_recovery_key_after_the_window_goes_through_the_confirm_page_and_back()
    {
        var page = await browser.NewPageAsync();
        var (email, recoveryKey) = await BrowserJourneys.SignUpAsync(page);
        var userId = await UserIdAsync(email);

        await ShortConfirmationWindowBrowserFixture.WaitPastTheWindowAsync();
        await page.GotoAsync("/account/recovery-key");
        await Assertions.Expect(page.GetByText("For your security, confirm it's you first.")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Generate a new recovery key" })).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Link, new() { Name = "Confirm it's you" }).ClickAsync();

        await page.WaitForAddressAsync(new Regex("/account/confirm\\?returnUrl=%2Faccount%2Frecovery-key&"));
        await page.WaitForInteractiveAsync();
        var panel = page.GetByTestId("confirm-its-you");
        await Assertions.Expect(panel).ToContainTextAsync("For your security, confirm it's you before you generate a new recovery key.");
        await Assertions.Expect(panel.GetByRole(AriaRole.Button, new() { Name = "Use your recovery key instead" })).ToHaveCountAsync(0);
        var before = await SnapshotAsync(userId);

        await panel.GetByLabel("Password").FillAsync("not the password");
        await panel.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await Assertions.Expect(panel.GetByRole(AriaRole.Alert)).ToHaveTextAsync(Confirmations.WrongPassword);
        Assert.Equal(before, await SnapshotAsync(userId));
        Assert.True(await RecoveryKeyMatchesAsync(userId, recoveryKey));

        // Confirmed: back on the recovery key page, which now offers a new key.
        await panel.GetByLabel("Password").FillAsync(PortalScenario.StrongPassword);
        await panel.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        await page.WaitForAddressAsync(new Regex("/account/recovery-key$"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Generate a new recovery key" }).ClickAsync();

        await page.WaitForAddressAsync("/account/recovery-key/new");
        var newKey = string.Join(' ', await page.GetByTestId("recovery-key-words").Locator("li").AllInnerTextsAsync());
        Assert.NotEqual(recoveryKey, newKey);
        Assert.False(await RecoveryKeyMatchesAsync(userId, recoveryKey));
        Assert.True(await RecoveryKeyMatchesAsync(userId, newKey));
        await page.CloseContextAsync();
    }

    /// <summary>The "Confirm it's you" dialog over the page.</summary>
    private static ILocator ConfirmDialog(IPage page) =>
        page.GetByRole(AriaRole.Dialog).Filter(new() { Has = page.GetByTestId("confirm-its-you") });

    /// <summary>
    /// Setup steps (adding the passkey, turning the app on) happen right after sign-up, within the window; on a
    /// slow machine they may not, and then the portal rightly asks for the password first, which this gives.
    /// The window (6 s here) may also run out between the page's check and the service's, while the passkey dialog
    /// is open: the page then says a recent confirmation is needed, and the step is tried once more, which asks.
    /// </summary>
    private static async Task ClickConfirmingWithThePasswordIfAskedAsync(IPage page, ILocator button, ILocator done)
    {
        await button.ClickAsync();
        var dialog = ConfirmDialog(page);
        var ranOut = page.GetByText(Features.Accounts.Sessions.RecentConfirmation.Required);
        await done.Or(dialog).Or(ranOut).First.WaitForAsync();
        if (await ranOut.IsVisibleAsync() && !await done.First.IsVisibleAsync())
        {
            await button.ClickAsync();
            await done.Or(dialog).First.WaitForAsync();
        }

        if (await dialog.IsVisibleAsync())
        {
            await dialog.GetByLabel("Password").FillAsync(PortalScenario.StrongPassword);
            await dialog.GetByRole(AriaRole.Button, new() { Name = "Confirm" }).ClickAsync();
        }

        await done.First.WaitForAsync();
    }

    private static async Task AddPasskeyAsync(IPage page, string name)
    {
        await page.GotoAsync("/passkeys");
        await page.WaitForInteractiveAsync();
        await page.GetByLabel("Passkey name").FillAsync(name);
        await ClickConfirmingWithThePasswordIfAskedAsync(
            page, page.GetByRole(AriaRole.Button, new() { Name = "Add passkey" }), page.GetByTestId("passkey-item"));
        await Assertions.Expect(page.GetByTestId("passkey-name")).ToHaveTextAsync(name);
    }

    /// <summary>Turns the authenticator app on with the code for now; returns the app's secret.</summary>
    private static async Task<byte[]> EnableAuthenticatorAppAsync(IPage page)
    {
        await page.GotoAsync("/two-factor");
        await page.WaitForInteractiveAsync();
        await ClickConfirmingWithThePasswordIfAskedAsync(
            page, page.GetByRole(AriaRole.Button, new() { Name = "Enable" }), page.GetByTestId("totp-secret"));
        var secret = Base32Encoding.ToBytes((await page.GetByTestId("totp-secret").InnerTextAsync()).Replace(" ", "", StringComparison.Ordinal));
        await page.GetByLabel("Authentication code").FillAsync(Rfc6238.Code(secret, DateTimeOffset.UtcNow));
        await ClickConfirmingWithThePasswordIfAskedAsync(
            page, page.GetByRole(AriaRole.Button, new() { Name = "Enable" }), page.GetByTestId("totp-status"));
        await Assertions.Expect(page.GetByTestId("totp-status")).ToContainTextAsync("The authenticator app is on.");
        return secret;
    }

    /// <summary>Deletes the account's only passkey ("Delete" in the message box); returns the dialog that then asks to confirm.</summary>
    private static async Task<ILocator> DeleteTheOnlyPasskeyAsync(IPage page, string name)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = $"Delete {name}" }).ClickAsync();
        var question = page.GetByRole(AriaRole.Dialog).Filter(new() { HasText = "Are you sure you want to delete this passkey?" });
        await Assertions.Expect(question).ToContainTextAsync("It is your last passkey");
        await question.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        var dialog = ConfirmDialog(page);
        await Assertions.Expect(dialog.GetByRole(AriaRole.Button, new() { Name = "Use your passkey" })).ToBeVisibleAsync();
        return dialog;
    }

    /// <summary>"Sign out everywhere else" and "Sign out everywhere else" in the message box; returns the dialog that then asks to confirm.</summary>
    private static async Task<ILocator> SignOutEverywhereElseAsync(IPage page)
    {
        await page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" }).ClickAsync();
        var question = page.GetByRole(AriaRole.Dialog).Filter(new() { HasText = "Every other browser and every app signed in to your account will have to sign in again." });
        await question.GetByRole(AriaRole.Button, new() { Name = "Sign out everywhere else" }).ClickAsync();
        var dialog = ConfirmDialog(page);
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        return dialog;
    }

    /// <summary>A six-digit code the app shows at none of the steps around <paramref name="step"/>.</summary>
    private static string WrongCode(byte[] secret, long step)
    {
        var near = Enumerable.Range(-2, 6)
            .Select(offset => Rfc6238.Code(secret, DateTimeOffset.FromUnixTimeSeconds((step + offset) * TotpStepSeconds)))
            .ToHashSet();
        return new[] { "000000", "111111", "222222", "333333", "444444", "555555", "666666" }.First(code => !near.Contains(code));
    }

    private Task<string> UserIdAsync(string email) =>
        browser.App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

    private Task<List<long>> PasskeysOfAsync(string userId) =>
        browser.App.WithDbAsync(db => db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).Select(p => p.Id).ToListAsync());

    private async Task<bool> RecoveryKeyMatchesAsync(string userId, string words)
    {
        var parsed = RecoveryKeyCodec.Parse(words);
        Assert.True(parsed.Succeeded, parsed.Error);
        await using var scope = browser.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<RecoveryKeyService>().MatchesAsync(userId, parsed.Key!);
    }

    /// <summary>Everything a refused or cancelled security change must leave as it was.</summary>
    private Task<string> SnapshotAsync(string userId) => browser.App.WithDbAsync(async db => JsonSerializer.Serialize(new
    {
        Passkeys = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).OrderBy(p => p.Id).Select(p => new { p.Id, p.Name, p.SignCount }).ToListAsync(),
        Totp = await db.TotpAuthenticators.AsNoTracking().Where(t => t.UserId == userId).Select(t => new { t.ProtectedSecret, t.LastAcceptedStep }).ToListAsync(),
        RecoveryKey = await db.RecoveryKeys.AsNoTracking().Where(k => k.UserId == userId).Select(k => k.KeyHash).SingleAsync(),
        Sessions = await db.BrowserSessions.AsNoTracking().Where(s => s.UserId == userId).OrderBy(s => s.Id).Select(s => s.Id).ToListAsync(),
        Tokens = await db.AppTokens.AsNoTracking().Where(t => t.UserId == userId && t.RevokedAt == null).CountAsync(),
        Stamp = await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync(),
    }));
}
