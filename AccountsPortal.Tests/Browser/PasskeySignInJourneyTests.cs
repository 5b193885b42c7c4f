using AccountsPortal.Tests.TestSupport;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>Signing in with a passkey alone in Chromium, with the CDP virtual authenticator (issue 13).</summary>
[Collection(PasskeySignInBrowserCollection.Name)]
public sealed class PasskeySignInJourneyTests(PasskeySignInBrowserFixture browser)
{
    /// <summary>
    /// Makes the page a browser without passkey autofill (as where <c>isConditionalMediationAvailable</c> says false).
    /// Chromium's virtual authenticator answers an autofill request by itself as soon as a login page opens, so the
    /// button can only be shown working, or refusing, where no autofill request runs.
    /// </summary>
    private static Task WithoutAutofillAsync(IPage page) =>
        page.AddInitScriptAsync("PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);");

    [Fact]
    public async Task A_passkey_that_verifies_its_user_signs_in_from_the_button_without_a_password()
    {
        var page = await browser.NewPageAsync();
        await WithoutAutofillAsync(page);
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        // Chromium reports credProps.rk for a platform authenticator with resident keys: the list says it can sign in alone.
        await Assertions.Expect(page.GetByTestId("passkey-item").GetByTestId("passkey-sign-in")).ToHaveTextAsync("Signs in without a password");
        await BrowserJourneys.SignOutAsync(page);

        await page.GotoAsync("/login");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with a passkey" }).ClickAsync();

        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        var credential = Assert.Single(await authenticator.GetCredentialsAsync());
        Assert.True(credential.GetProperty("signCount").GetInt32() >= 1);
        await page.GotoAsync("/account/activity");
        await Assertions.Expect(page.GetByText("a passkey alone (no password)").First).ToBeVisibleAsync();
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task The_email_field_offers_the_passkey_as_autofill_and_choosing_it_signs_in()
    {
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");

        // Signing out lands on the login page, which starts a conditional request (mediation "conditional", the email
        // field marked autocomplete="username webauthn") as it loads, with no click. Chromium's virtual authenticator,
        // holding a discoverable credential for the site, answers it as if the person picked the passkey from the
        // field's suggestions, and the page posts the answer.
        await page.GotoAsync("/account");
        await page.WaitForInteractiveAsync();
        var signIn = page.WaitForRequestAsync(request => request.Method == "POST" && request.Url.EndsWith("/login/passkey", StringComparison.Ordinal));
        await page.MainContent().GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await signIn;

        await page.WaitForAddressAsync("/account");
        await Assertions.Expect(page.GetByTestId("account-email")).ToHaveTextAsync(email);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task A_passkey_that_cannot_verify_its_user_is_refused_and_the_password_still_works()
    {
        var page = await browser.NewPageAsync();
        await WithoutAutofillAsync(page);
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        await authenticator.SetUserVerifiedAsync(false);
        await BrowserJourneys.SignOutAsync(page);

        await page.GotoAsync("/login");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with a passkey" }).ClickAsync();

        // Chromium refuses a UV-required request the authenticator cannot verify (NotAllowedError), or the portal refuses
        // an answer without UV: either way the page says so and stays on the login page.
        await Assertions.Expect(page.Locator("[data-passkey-sign-in-status]")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-passkey-sign-in-status]")).ToContainTextAsync("password");
        Assert.EndsWith("/login", new Uri(page.Url).AbsolutePath, StringComparison.Ordinal);
        await BrowserJourneys.LogInAsync(page, email);
        await page.WaitForAddressAsync(new System.Text.RegularExpressions.Regex("/passkeys/verify\\?session="));
        await page.CloseContextAsync();
    }
}
