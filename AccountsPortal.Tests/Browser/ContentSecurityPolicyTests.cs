using AccountsPortal.Tests.TestSupport;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>Every page, loaded in Chromium with a listener for Content Security Policy violations: none may be reported.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ContentSecurityPolicyTests(BrowserFixture browser)
{
    private const string Listener = """
        window.__cspViolations = [];
        document.addEventListener("securitypolicyviolation", e =>
            window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
        """;

    private static async Task AssertNoViolationsAsync(IPage page, string path, List<string> console)
    {
        var violations = await page.EvaluateAsync<string[]>("() => window.__cspViolations");
        Assert.True(violations.Length == 0, $"{path}: {string.Join(" | ", violations)}");
        Assert.DoesNotContain(console, line => line.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task No_page_reports_a_content_security_policy_violation()
    {
        var page = await browser.NewPageAsync();
        var console = new List<string>();
        page.Console += (_, message) => console.Add(message.Text);
        await page.AddInitScriptAsync(Listener);

        foreach (var path in new[] { "/login", "/signup", "/account/forgot-password", "/signup/verify" })
        {
            await page.GotoAsync(path);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await AssertNoViolationsAsync(page, path, console);
        }

        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        await BrowserJourneys.SignUpAsync(page);
        await AssertNoViolationsAsync(page, "sign-up journey", console);
        foreach (var path in new[] { "/account", "/passkeys", "/two-factor", "/account/sessions", "/account/activity" })
        {
            await page.GotoAsync(path);
            await page.WaitForInteractiveAsync();
            await AssertNoViolationsAsync(page, path, console);
        }

        // Pages rendered in the request only (they set cookies or post forms).
        foreach (var path in new[] { "/account/recovery-key", "/account/password", "/account/email" })
        {
            await page.GotoAsync(path);
            await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
            await AssertNoViolationsAsync(page, path, console);
        }

        // The pages at work: a passkey dialog and the QR code of an authenticator app.
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        await page.GotoAsync("/two-factor");
        await page.WaitForInteractiveAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId("totp-secret")).ToBeVisibleAsync();
        await AssertNoViolationsAsync(page, "passkey and QR code", console);
        await page.CloseContextAsync();
    }
}
