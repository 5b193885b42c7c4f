using System.Text.Json;
using System.Text.RegularExpressions;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Oidc;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>
/// The portal as an OpenID Connect provider for a real client app (ASP.NET Core's OpenIdConnect handler,
/// <see cref="OidcClientApp"/>), in Chromium: its own portal, configured with that app, and its own browser.
/// </summary>
public sealed class OidcJourneyTests : IAsyncLifetime
{
    private readonly OidcClientApp client = new();
    private readonly BrowserFixture browser = new();

    public async Task InitializeAsync()
    {
        // The app's port is held already: the portal is configured with its redirect URIs, then each starts.
        foreach (var (key, value) in client.PortalSettings())
        {
            browser.App.WithSetting(key, value);
        }

        await browser.InitializeAsync();
        await client.StartAsync(browser.BaseAddress);
    }

    public async Task DisposeAsync()
    {
        await client.DisposeAsync();
        await browser.DisposeAsync();
    }

    [Fact]
    public async Task A_real_OIDC_client_app_signs_in_through_password_and_passkey_refreshes_and_signs_out()
    {
        var started = DateTimeOffset.UtcNow;
        var portal = browser.BaseAddress.GetLeftPart(UriPartial.Authority);
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        await BrowserJourneys.SignOutAsync(page);
        var accountId = await browser.App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

        // The app sends the browser to the portal, which asks for the password, then the passkey (the verify page runs
        // the assertion by itself and the virtual authenticator answers), then hands the sign-in back to the app.
        await page.GotoAsync(client.Url("/"));
        await page.WaitForAddressAsync(new Regex("^" + Regex.Escape(portal + "/login?returnUrl=%2Fconnect%2Fauthorize")));
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(PortalScenario.StrongPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Log in" }).ClickAsync();
        await WaitForClientPageAsync(page, "/");

        var home = await ReadAsync(page);
        Assert.Equal([accountId], home["sub"]);
        Assert.NotEqual(email, Assert.Single(home["sub"]));
        Assert.Equal([email], home["email"]);
        Assert.Equal(["true"], home["email_verified"]);
        Assert.Equal(JsonSerializer.Serialize(accountId), Assert.Single(home["id_token.sub"]));
        var amr = JsonSerializer.Deserialize<string[]>(Assert.Single(home["id_token.amr"]))!;
        Assert.Contains(AuthenticationMethods.Password, amr);
        Assert.Contains(AuthenticationMethods.MultiFactor, amr);
        Assert.Contains(amr, method => method is AuthenticationMethods.HardwareKey or AuthenticationMethods.SoftwareKey);
        Assert.Equal(amr.Order(), home["amr"].Order());
        Assert.Equal(JsonSerializer.Serialize(new OidcOptions().MultiFactorAcr), Assert.Single(home["id_token.acr"]));
        var authTime = DateTimeOffset.FromUnixTimeSeconds(long.Parse(Assert.Single(home["id_token.auth_time"]), System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(authTime, started.AddSeconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal(["present"], home["refresh_token"]);
        var signedInApp = Assert.Single(await SignedInAppsAsync(accountId));
        Assert.Equal(client.Name, signedInApp.Name);

        // The app renews its tokens with the refresh token: a new one comes back (rotation), with a new ID token for the
        // same person, signed with the published keys.
        await page.GotoAsync(client.Url("/refresh"));
        var refreshed = await ReadAsync(page);
        Assert.Equal(["ok"], refreshed["refresh"]);
        Assert.Equal(["present"], refreshed["refreshed.access_token"]);
        Assert.Equal(["present"], refreshed["refreshed.id_token"]);
        Assert.Equal(["true"], refreshed["refreshed.id_token.valid"]);
        Assert.Equal(["true"], refreshed["refresh_token.changed"]);
        Assert.NotEqual(home["refresh_token.fingerprint"], refreshed["refresh_token.fingerprint"]);
        Assert.Equal(home["id_token.sub"], refreshed["refreshed.id_token.sub"]);
        Assert.Equal(home["id_token.amr"], refreshed["refreshed.id_token.amr"]);

        // The app kept the new tokens in its session.
        await page.GotoAsync(client.Url("/"));
        await WaitForClientPageAsync(page, "/");
        Assert.Equal(refreshed["refresh_token.fingerprint"], (await ReadAsync(page))["refresh_token.fingerprint"]);

        // Signing out of the app signs out of the portal (end-session with the ID token) and comes back to the app.
        await page.GotoAsync(client.Url("/logout"));
        await WaitForClientPageAsync(page, OidcClientApp.SignedOutPath);
        var signedOut = await ReadAsync(page);
        Assert.Equal(["true"], signedOut["signed-out"]);
        Assert.Equal(["none"], signedOut["client-session"]);
        Assert.Empty(await SignedInAppsAsync(accountId));

        await page.GotoAsync(portal + "/account");
        await page.WaitForAddressAsync(new Regex("^" + Regex.Escape(portal + "/login?returnUrl=%2Faccount") + "$"));
        await page.CloseContextAsync();
    }

    /// <summary>Waits for the app's page at <paramref name="path"/>, saying where the browser stopped instead and what the app and portal logged.</summary>
    private async Task WaitForClientPageAsync(IPage page, string path)
    {
        try
        {
            await page.WaitForAddressAsync(new Regex("^" + Regex.Escape(client.Url(path)) + "$"));
        }
        catch (PlaywrightException exception)
        {
            var problems = client.Logs.Entries.Concat(browser.App.Logs.Entries)
                .Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning)
                .Select(e => $"{e.Category}: {e.Message} {e.Exception}");
            throw new InvalidOperationException(
                $"The browser did not reach the app's {path}; it is at {page.Url}, showing: {await page.InnerTextAsync("body")}\n"
                + string.Join('\n', problems), exception);
        }
    }

    /// <summary>The app's plain-text page as name → values (one <c>name=value</c> a line).</summary>
    private static async Task<ILookup<string, string>> ReadAsync(IPage page)
    {
        var text = await page.InnerTextAsync("body");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .ToLookup(parts => parts[0], parts => parts[1], StringComparer.Ordinal);
    }

    /// <summary>The apps "Signed-in apps" lists for the account.</summary>
    private async Task<IReadOnlyList<Features.Accounts.Sessions.SignedInEntry>> SignedInAppsAsync(string accountId)
    {
        await using var scope = browser.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<OidcGrants>().ListAsync(accountId, CancellationToken.None);
    }
}
