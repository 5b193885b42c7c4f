using System.Net;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Apps;
using AccountsPortal.Features.Preferences;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Return addresses that would lead off the site, on every place that takes one: the login form, the completion
/// link, the form posts that redirect back, the "Confirm it's you" page and the app return page. On Kestrel, so that
/// every Location header is one a real server sends. A refused address becomes the place's default, never a 500.
/// </summary>
public sealed class RedirectAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string OverLong = "(over-long)";

    public static TheoryData<string> OffSite => new()
    {
        "//evil.example",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "javascript:alert(document.domain)",
        "/\t/evil.example",
        OverLong,
    };

    private static string Payload(string returnUrl) => returnUrl == OverLong ? "/" + new string('a', LocalReturnUrl.MaxLength) : returnUrl;

    /// <summary>A redirect that stays on the site: exactly <paramref name="expected"/>, relative, one leading slash.</summary>
    private static void AssertLandsOn(HttpResponseMessage response, string expected)
    {
        Assert.True(response.IsRedirect(), $"{(int)response.StatusCode}");
        var location = response.Headers.Location!;
        Assert.False(location.IsAbsoluteUri, location.OriginalString);
        Assert.Equal(expected, location.OriginalString);
    }

    private async Task<Browser> SignedInAsync()
    {
        var (_, email) = await portal.Passkeys.CreateAccountAsync();
        var browser = new Browser(portal.App);
        await browser.SignInAsync(email);
        return browser;
    }

    [Theory]
    [MemberData(nameof(OffSite))]
    public async Task The_completion_link_ignores_a_return_url_that_leaves_the_site(string returnUrl)
    {
        var (_, email) = await portal.Passkeys.CreateAccountAsync();
        using var browser = new Browser(portal.App);
        var completion = (await browser.LogInAsync(email)).LocationPath();

        var response = await browser.Http.GetAsync(completion + "&returnUrl=" + Uri.EscapeDataString(Payload(returnUrl)));

        // Signed in all the same, and sent to the login's own (local) return URL.
        AssertLandsOn(response, LocalReturnUrl.Default);
        Assert.NotNull(browser.AuthCookie);
    }

    [Theory]
    [MemberData(nameof(OffSite))]
    public async Task The_theme_toggle_ignores_a_return_url_that_leaves_the_site(string returnUrl)
    {
        using var browser = new Browser(portal.App);
        var page = await (await browser.Http.GetAsync("/login")).ReadHtmlAsync();
        var before = await portal.SnapshotAsync();

        var response = await browser.Http.SubmitAsync(page, "/login", ThemePreference.TogglePath, new Dictionary<string, string> { ["returnUrl"] = Payload(returnUrl) });

        AssertLandsOn(response, "/");
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Theory]
    [MemberData(nameof(OffSite))]
    public async Task Continue_after_the_recovery_key_ignores_a_return_url_that_leaves_the_site(string returnUrl)
    {
        using var browser = await SignedInAsync();
        var page = await (await browser.Http.GetAsync("/account")).ReadHtmlAsync();
        var token = page.QuerySelector("input[name=__RequestVerificationToken]")!.GetAttribute("value")!;
        var before = await portal.SnapshotAsync();

        var response = await browser.Http.PostAsync("/account/recovery-key/saved", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["saved"] = "on",
            ["returnUrl"] = Payload(returnUrl),
        }));

        AssertLandsOn(response, LocalReturnUrl.Default);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Theory]
    [InlineData("%2F%2Fevil.example")]
    [InlineData("javascript:alert(document.domain)")]
    [InlineData("/\t/evil.example")]
    [InlineData(OverLong)]
    public async Task The_login_form_keeps_only_a_local_return_url_for_after_the_second_factor(string returnUrl)
    {
        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        await portal.Totp.EnableAsync(userId);
        using var browser = new Browser(portal.App);

        var passwordStep = await browser.LogInAsync(email, returnUrl: Payload(returnUrl));

        Assert.StartsWith("/two-factor/verify?session=", passwordStep.LocationPath());
        Assert.Equal(
            LocalReturnUrl.Default,
            await portal.App.WithDbAsync(db => db.LoginSessions.Where(s => s.UserId == userId).Select(s => s.ReturnUrl).SingleAsync()));
    }

    [Theory]
    [InlineData("//evil.example")]
    [InlineData("/\\evil.example")]
    public async Task A_login_approval_pick_goes_back_only_to_a_page_of_the_site(string returnUrl)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        using var device = new Browser(portal.App);
        var recoverPath = $"/two-factor/recover?session={Uri.EscapeDataString(login.SessionId)}&client_id={AppApiClient.ClientId}";
        var page = await (await device.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        var before = await portal.SnapshotAsync();

        // A pick that is no number is refused before anything is decided; a valid-looking form with a foreign return URL.
        var response = await device.Http.SubmitAsync(page, recoverPath, LoginApprovalForm.Path, new Dictionary<string, string>
        {
            ["pick"] = "not a number",
            ["returnUrl"] = returnUrl,
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Null(response.Headers.Location);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);

        var refused = await device.Http.SubmitAsync(page, recoverPath, LoginApprovalForm.Path, new Dictionary<string, string>
        {
            ["pick"] = LoginApprovalForm.NotMe,
            ["returnUrl"] = returnUrl,
        });
        AssertLandsOn(refused, LocalReturnUrl.Default);
    }

    [Theory]
    [InlineData("//evil.example")]
    [InlineData("javascript:alert(document.domain)")]
    public async Task The_confirm_page_cancels_and_returns_only_to_a_page_of_the_site(string returnUrl)
    {
        using var browser = await SignedInAsync();
        var before = await portal.SnapshotAsync();

        var response = await browser.Http.GetAsync($"/account/confirm?returnUrl={Uri.EscapeDataString(returnUrl)}&action=change+the+password");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var page = await response.ReadHtmlAsync();
        var cancel = page.QuerySelectorAll("a").Single(a => a.TextContent.Trim() == "Cancel");
        Assert.Equal(LocalReturnUrl.Default, cancel.GetAttribute("href"));
        // No link or form on the page leads anywhere but this site (the page's own address may be carried along).
        foreach (var target in page.QuerySelectorAll("[href], [action]").Select(e => e.GetAttribute("href") ?? e.GetAttribute("action")!))
        {
            Assert.True(LocalReturnUrl.IsLocal(target) || !target.Contains(':', StringComparison.Ordinal) && !target.StartsWith("//", StringComparison.Ordinal) && !target.StartsWith("/\\", StringComparison.Ordinal), target);
        }

        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    public static TheoryData<string> UnregisteredAppRedirects => new()
    {
        AppApiClient.CustomSchemeRedirect,
        "https://app.example@evil.example/callback",
        "//app.example/callback",
        "javascript:alert(document.domain)",
    };

    [Theory]
    [MemberData(nameof(UnregisteredAppRedirects))]
    public async Task The_app_return_page_sends_the_code_only_to_the_redirect_the_login_asked_for(string redirectUri)
    {
        var (_, email, authenticator) = await portal.AccountWithPasskeyAsync();
        using (authenticator)
        {
            using var client = portal.NewApiClient();
            var started = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
            var sessionId = started.GetProperty("sessionId").GetString()!;
            portal.Passkeys.Hold(sessionId, started.GetProperty("sessionSecret").GetString()!);
            Assert.True((await portal.Passkeys.LogInAsync(sessionId, authenticator)).Succeeded);
            using var browser = new Browser(portal.App);
            var before = await portal.SnapshotAsync();

            var response = await browser.Http.GetAsync(AppReturnPage.Url(sessionId, AppApiClient.ClientId, redirectUri));

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Null(response.Headers.Location);
            Assert.Equal("Return address not allowed", (await response.ReadHtmlAsync()).QuerySelector("h1")!.TextContent);
            await DatabaseState.AssertUnchangedAsync(portal.App, before);
        }
    }
}
