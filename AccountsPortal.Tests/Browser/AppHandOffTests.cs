using System.Net;
using System.Net.Http.Json;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

[Collection(BrowserCollection.Name)]
public sealed class AppHandOffTests(BrowserFixture browser)
{
    [Fact]
    public async Task An_app_hands_its_login_to_the_portal_and_gets_a_token_back()
    {
        // The person has a passkey on this device.
        var page = await browser.NewPageAsync();
        await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        var (email, _) = await BrowserJourneys.SignUpAsync(page);
        await BrowserJourneys.AddPasskeyAsync(page, "Laptop");
        await BrowserJourneys.SignOutAsync(page);

        // The app's redirect URI: a small loopback listener, like a desktop app's (the fixture's, listening already).
        using var app = new AppApiClient(new HttpClient { BaseAddress = browser.BaseAddress });
        var login = await AppApiClient.JsonAsync(await app.LogInAsync(email, redirectUri: browser.AppCallback.Address.ToString()));
        var sessionId = login.GetProperty("sessionId").GetString()!;
        var verifyUrl = login.GetProperty("verifyUrl").GetString()!;
        Assert.StartsWith(browser.BaseAddress.ToString().TrimEnd('/') + "/passkeys/verify?session=", verifyUrl);

        // The app opens the verify URL in the browser and shows its approval number; the person picks it,
        // then the passkey is verified and the browser comes back.
        await page.GotoAsync(verifyUrl);
        await Assertions.Expect(page.GetByTestId("approval-requester")).ToContainTextAsync("Test App");
        await page.GetByRole(AriaRole.Button, new() { Name = login.GetProperty("approvalNumber").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), Exact = true }).ClickAsync();
        var returned = await browser.AppCallback.NextRequestAsync(BrowserFixture.ExpectTimeout);
        var query = System.Web.HttpUtility.ParseQueryString(returned.Query);

        Assert.Equal("/callback", returned.AbsolutePath);
        Assert.Equal(sessionId, query["session"]);
        var exchanged = await app.ExchangeAsync(sessionId, login.GetProperty("sessionSecret").GetString(), query["code"]);
        Assert.Equal(HttpStatusCode.OK, exchanged.StatusCode);
        var token = (await AppApiClient.JsonAsync(exchanged)).GetProperty("token").GetString()!;

        var me = await app.MeAsync(token);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        var account = await me.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.Equal(email, account.GetProperty("email").GetString());
        Assert.Equal(["passkey"], account.GetProperty("secondFactors").EnumerateArray().Select(f => f.GetString()));
        await page.CloseContextAsync();
    }
}
