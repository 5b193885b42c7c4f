using System.Net;
using System.Net.WebSockets;
using AccountsPortal.Components;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Preferences;
using AccountsPortal.Tests.TestSupport;
using AngleSharp.Html.Dom;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Another site acting with the victim's cookies: every form the portal takes posted without the form's antiforgery
/// token (or with the attacker's own), the Blazor hub opened as a WebSocket from a foreign origin, and cookies an
/// attacker planted or kept (session fixation).
/// </summary>
public sealed class SessionAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string TokenField = "__RequestVerificationToken";

    private const string NewPassword = "a different long passphrase";

    /// <summary>The fields of a form on <paramref name="pagePath"/> as this browser gets it, and where it posts.</summary>
    private static async Task<(string Target, Dictionary<string, string> Fields)> ReadFormAsync(Browser browser, string pagePath, string form)
    {
        var page = await browser.Http.GetAsync(pagePath);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var document = await page.ReadHtmlAsync();
        var element = document.Forms.FirstOrDefault(candidate => candidate.GetAttribute("action") == form
                || candidate.QuerySelector($"input[name=_handler][value='{form}']") is not null)
            ?? throw new InvalidOperationException($"No form '{form}' on {pagePath}.");
        var fields = element.QuerySelectorAll("input[name]").OfType<IHtmlInputElement>()
            .Where(input => input.Type is not "checkbox")
            .GroupBy(input => input.Name!)
            .ToDictionary(group => group.Key, group => group.First().Value);
        var action = element.GetAttribute("action");
        return (string.IsNullOrEmpty(action) ? pagePath : action, fields);
    }

    /// <summary>A browser signed in (and so confirmed a moment ago) to a new account without a second factor.</summary>
    private async Task<(Browser Browser, string Email)> SignedInAsync()
    {
        var (_, email) = await portal.Passkeys.CreateAccountAsync();
        var browser = new Browser(portal.App);
        await browser.SignInAsync(email);
        return (browser, email);
    }

    /// <summary>The antiforgery token of the attacker's own browser, from the login form it can load itself.</summary>
    private async Task<string> AttackersTokenAsync()
    {
        using var attacker = new Browser(portal.App);
        return (await ReadFormAsync(attacker, "/login", "login")).Fields[TokenField];
    }

    public static TheoryData<string> FormPosts => new()
    {
        "log in",
        "enter the sign-up code",
        "send a new sign-up code",
        "forgot password",
        "reset password",
        "change password",
        "change email: new address",
        "change email: enter the code",
        "new recovery key",
        "recover two-factor",
        "recovery key saved",
        "theme",
        "sign out, with the attacker's token",
        "login approval, with the attacker's token",
    };

    [Theory]
    [MemberData(nameof(FormPosts))]
    public async Task A_form_posted_from_another_site_without_the_pages_token_changes_nothing(string form)
    {
        var (browser, target, fields, token) = await PrepareAsync(form);
        using (browser)
        {
            var before = await portal.SnapshotAsync();
            var cookies = browser.Cookies.GetAllCookies().Select(c => $"{c.Name}={c.Value}").Order(StringComparer.Ordinal).ToList();

            var response = await browser.Http.PostAsync(target, new FormUrlEncodedContent(fields));

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                Assert.Equal(FormPostEndpoints.ExpiredFormMessage, (await AppApiClient.JsonAsync(response)).GetProperty("title").GetString());
            }

            Assert.False(response.Headers.Contains("Set-Cookie"), string.Join("; ", response.Headers.TryGetValues("Set-Cookie", out var set) ? set : []));
            Assert.Equal(cookies, browser.Cookies.GetAllCookies().Select(c => $"{c.Name}={c.Value}").Order(StringComparer.Ordinal).ToList());
            await DatabaseState.AssertUnchangedAsync(portal.App, before);

            // The same post with this browser's own token goes through: the token alone made the difference.
            fields[TokenField] = token;
            var control = await browser.Http.PostAsync(target, new FormUrlEncodedContent(fields));
            Assert.True(control.IsRedirect() || control.StatusCode == HttpStatusCode.OK, $"{(int)control.StatusCode}");
        }
    }

    /// <summary>The victim's browser in the state where <paramref name="form"/> would change something, and the attacker's post.</summary>
    /// <returns>Also this browser's own valid token, which the attacker's post lacks.</returns>
    private async Task<(Browser Browser, string Target, Dictionary<string, string> Fields, string Token)> PrepareAsync(string form)
    {
        Browser browser;
        string target;
        Dictionary<string, string> fields;
        switch (form)
        {
            case "log in":
                {
                    // Login CSRF: signing the victim's browser in to the attacker's account.
                    var (_, attackersEmail) = await portal.Passkeys.CreateAccountAsync();
                    browser = new Browser(portal.App);
                    (target, fields) = await ReadFormAsync(browser, "/login", "login");
                    fields["Input.Email"] = attackersEmail;
                    fields["Input.Password"] = PortalScenario.StrongPassword;
                    break;
                }

            case "enter the sign-up code":
            case "send a new sign-up code":
                {
                    var email = PortalScenario.NewEmail();
                    browser = new Browser(portal.App);
                    var signUp = await browser.Http.SubmitAsync("/signup", "signup", new Dictionary<string, string>
                    {
                        ["Input.Email"] = email,
                        ["Input.Password"] = PortalScenario.StrongPassword,
                        ["Input.ConfirmPassword"] = PortalScenario.StrongPassword,
                    });
                    Assert.True(signUp.IsRedirect());
                    var code = await Mailbox.LatestCodeAsync(portal.App, email);
                    (target, fields) = await ReadFormAsync(browser, "/signup/verify", form == "enter the sign-up code" ? "verify-email" : "resend-code");
                    fields["Input.Code"] = code;
                    break;
                }

            case "forgot password":
                {
                    var (_, email) = await portal.Passkeys.CreateAccountAsync();
                    browser = new Browser(portal.App);
                    (target, fields) = await ReadFormAsync(browser, "/account/forgot-password", "forgot-password");
                    fields["Input.Email"] = email;
                    break;
                }

            case "reset password":
                {
                    var (_, email) = await portal.Passkeys.CreateAccountAsync();
                    browser = new Browser(portal.App);
                    await browser.Http.SubmitAsync("/account/forgot-password", "forgot-password", new Dictionary<string, string> { ["Input.Email"] = email });
                    var message = (await Mailbox.MessagesToAsync(portal.App, email)).Single(m => m.Subject == "Reset your password");
                    var link = new Uri(System.Text.RegularExpressions.Regex.Match(message.TextBody!, @"http://localhost:\d+/account/reset-password\?\S+").Value).PathAndQuery;
                    (target, fields) = await ReadFormAsync(browser, link, "reset-password");
                    fields["Input.NewPassword"] = NewPassword;
                    fields["Input.ConfirmPassword"] = NewPassword;
                    break;
                }

            case "change password":
                (browser, _) = await SignedInAsync();
                (target, fields) = await ReadFormAsync(browser, "/account/password", "change-password");
                fields["Input.CurrentPassword"] = PortalScenario.StrongPassword;
                fields["Input.NewPassword"] = NewPassword;
                fields["Input.ConfirmPassword"] = NewPassword;
                break;
            case "change email: new address":
                (browser, _) = await SignedInAsync();
                (target, fields) = await ReadFormAsync(browser, "/account/email", "new-email");
                fields["EmailInput.Email"] = PortalScenario.NewEmail();
                break;
            case "change email: enter the code":
                {
                    (browser, _) = await SignedInAsync();
                    var newEmail = PortalScenario.NewEmail();
                    await browser.Http.SubmitAsync("/account/email", "new-email", new Dictionary<string, string> { ["EmailInput.Email"] = newEmail });
                    var code = await Mailbox.LatestCodeAsync(portal.App, newEmail);
                    (target, fields) = await ReadFormAsync(browser, "/account/email", "confirm-new-email");
                    fields["CodeInput.Code"] = code;
                    break;
                }

            case "new recovery key":
                (browser, _) = await SignedInAsync();
                (target, fields) = await ReadFormAsync(browser, "/account/recovery-key", "new-recovery-key");
                break;
            case "recover two-factor":
                {
                    var (userId, key) = await new RecoveryBench(portal.App).AccountWithPasskeyAsync();
                    browser = new Browser(portal.App);
                    var email = await portal.App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());
                    var verify = (await browser.LogInAsync(email)).LocationPath();
                    (target, fields) = await ReadFormAsync(browser, verify.Replace("/passkeys/verify", "/two-factor/recover", StringComparison.Ordinal), "recover");
                    fields["Input.RecoveryKey"] = key;
                    break;
                }

            case "recovery key saved":
                (browser, _) = await SignedInAsync();
                // Any form of this browser carries its token; the saved-key form itself shows only with a new key.
                fields = (await ReadFormAsync(browser, "/account", "/account/logout")).Fields;
                fields["saved"] = "on";
                fields["returnUrl"] = "/passkeys";
                target = "/account/recovery-key/saved";
                break;
            case "theme":
                browser = new Browser(portal.App);
                (target, fields) = await ReadFormAsync(browser, "/login", ThemePreference.TogglePath);
                break;
            case "sign out, with the attacker's token":
                {
                    (browser, _) = await SignedInAsync();
                    (target, fields) = await ReadFormAsync(browser, "/account", "/account/logout");
                    var own = fields[TokenField];
                    fields[TokenField] = await AttackersTokenAsync();
                    return (browser, target, fields, own);
                }

            case "login approval, with the attacker's token":
                {
                    var login = await portal.ApiPasskeyLoginAsync();
                    login.Dispose();
                    browser = new Browser(portal.App);
                    var verifyPath = $"/two-factor/recover?session={Uri.EscapeDataString(login.SessionId)}&client_id={AppApiClient.ClientId}";
                    (target, fields) = await ReadFormAsync(browser, verifyPath, LoginApprovalForm.Path);
                    fields["pick"] = LoginApprovalForm.NotMe;
                    var own = fields[TokenField];
                    fields[TokenField] = await AttackersTokenAsync();
                    return (browser, target, fields, own);
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(form), form, null);
        }

        // What a form on another site sends: every field but the token it cannot read.
        var token = fields[TokenField];
        fields.Remove(TokenField);
        return (browser, target, fields, token);
    }

    public static TheoryData<string> ForeignOrigins => new()
    {
        "https://evil.example",
        "null",
        "http://localhost:1",
        "http://LOCALHOST:{port}",
    };

    [Theory]
    [MemberData(nameof(ForeignOrigins))]
    public async Task The_blazor_hub_refuses_a_websocket_from_another_origin_even_with_the_owners_cookies(string origin)
    {
        var (browser, _) = await SignedInAsync();
        using (browser)
        {
            var hub = new UriBuilder(portal.App.ServerAddress!) { Scheme = "ws", Path = "/_blazor" }.Uri;
            var before = await portal.SnapshotAsync();

            var foreign = await ConnectAsync(hub, origin.Replace("{port}", hub.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal), browser.Cookies);

            Assert.Equal(HttpStatusCode.Forbidden, foreign);
            await DatabaseState.AssertUnchangedAsync(portal.App, before);
            // The same browser from the portal's own origin is let in: the origin alone made the difference.
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await ConnectAsync(hub, portal.App.Origin, browser.Cookies));
        }
    }

    private static async Task<HttpStatusCode> ConnectAsync(Uri hub, string origin, CookieContainer cookies)
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Origin", origin);
        socket.Options.Cookies = cookies;
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(hub, CancellationToken.None);
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            // The handshake was refused; the status says how.
        }

        return socket.HttpStatusCode;
    }

    [Fact]
    public async Task A_sign_in_cookie_planted_by_an_attacker_is_replaced_at_sign_in_and_never_reaches_the_victims_account()
    {
        var (attacker, _) = await SignedInAsync();
        var (victimId, victimEmail) = await portal.Passkeys.CreateAccountAsync();
        var planted = attacker.AuthCookie!;
        using var victim = new Browser(portal.App);
        victim.Cookies.Add(victim.Origin, new Cookie(LoginCompletion.AuthCookieName, planted));

        await victim.SignInAsync(victimEmail);

        Assert.NotEqual(planted, victim.AuthCookie);
        // The attacker's copy of the planted cookie ended with the sign-out that preceded the victim's sign-in.
        var page = await attacker.Http.GetAsync("/account");
        Assert.True(page.IsRedirect(), $"{(int)page.StatusCode}");
        Assert.StartsWith("/login", page.LocationPath());
        Assert.Single(await portal.App.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == victimId).ToListAsync()));
        attacker.Dispose();
    }

    [Fact]
    public async Task A_pending_login_cookie_planted_before_the_password_step_is_replaced_and_completes_nothing()
    {
        var (_, email) = await portal.Passkeys.CreateAccountAsync();
        const string planted = "attacker-chosen-pending-login-secret-0123456789";
        using var victim = new Browser(portal.App);
        victim.Cookies.Add(victim.Origin, new Cookie(PendingLoginCookie.Name, planted));

        var completion = (await victim.LogInAsync(email)).LocationPath();

        Assert.StartsWith(LoginSessionService.CompletionPath, completion);
        Assert.NotEqual(planted, victim.PendingLoginSecret);
        using var attacker = new Browser(portal.App);
        attacker.Cookies.Add(attacker.Origin, new Cookie(PendingLoginCookie.Name, planted));
        var before = await portal.SnapshotAsync();

        var stolen = await attacker.Http.GetAsync(completion);

        Assert.Equal(LoginPage.ExpiredSessionUrl, stolen.LocationPath());
        Assert.Null(attacker.AuthCookie);
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
        Assert.Equal("/account", (await victim.Http.GetAsync(completion)).LocationPath());
    }

    [Fact]
    public async Task A_sign_in_cookie_copied_before_sign_out_is_dead_afterwards()
    {
        var (browser, email) = await SignedInAsync();
        var copied = browser.AuthCookie!;
        var signedOut = await browser.Http.SubmitAsync("/account", "/account/logout", new Dictionary<string, string>());
        Assert.Equal(LoginPage.SignedOutUrl, signedOut.LocationPath());
        using var thief = new Browser(portal.App);
        thief.Cookies.Add(thief.Origin, new Cookie(LoginCompletion.AuthCookieName, copied));
        var before = await portal.SnapshotAsync();

        var page = await thief.Http.GetAsync("/account");

        Assert.True(page.IsRedirect(), $"{(int)page.StatusCode}");
        Assert.StartsWith("/login", page.LocationPath());
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
        Assert.Empty(await portal.App.WithDbAsync(async db => await db.BrowserSessions.Where(s => s.UserId == db.Users.Where(u => u.Email == email).Select(u => u.Id).Single()).ToListAsync()));
        browser.Dispose();
    }
}
