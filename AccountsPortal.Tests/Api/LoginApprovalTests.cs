using System.Globalization;
using System.Net;
using System.Security.Claims;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>What a copied verify link, a completion link or a code from the wrong device gets.</summary>
public sealed class LoginApprovalTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private readonly PortalAppFactory portal = AppApiClient.Configure(app);

    private PasskeyBench Bench => new(portal);

    /// <summary>An app login waiting for a passkey, and the recover page of its verify link (the page that shows the approval form without script).</summary>
    private async Task<(string SessionId, string Secret, int Number, string RecoverPath)> AppLoginAsync(AppApiClient client)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        using var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        var login = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
        var recoverPath = new Uri(login.GetProperty("verifyUrl").GetString()!).PathAndQuery.Replace("/passkeys/verify", "/two-factor/recover");
        return (login.GetProperty("sessionId").GetString()!, login.GetProperty("sessionSecret").GetString()!, login.GetProperty("approvalNumber").GetInt32(), recoverPath);
    }

    private static Task<HttpResponseMessage> PickAsync(PortalScenario browser, string page, string pick) =>
        browser.Http.SubmitAsync(page, LoginApprovalForm.Path, new Dictionary<string, string> { ["pick"] = pick });

    [Fact]
    public async Task A_wrong_number_from_a_copied_link_ends_the_login_for_good_and_the_app_hears_it()
    {
        using var client = new AppApiClient(portal.CreatePortalClient());
        var (sessionId, secret, number, recoverPath) = await AppLoginAsync(client);
        using var stranger = new PortalScenario(portal);
        var wrong = Enumerable.Range(10, 90).First(n => n != number).ToString(CultureInfo.InvariantCulture);

        var refused = await PickAsync(stranger, recoverPath, wrong);

        Assert.Equal(recoverPath, refused.LocationPath());
        Assert.Null(stranger.Cookies.Cookie(stranger.Origin, LoginApprovalCookie.Name));
        var session = await Bench.SessionAsync(sessionId);
        Assert.Equal(LoginSessionState.Refused, session.State);
        Assert.Null(session.ApprovalHash);
        Assert.Single(await portal.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == session.UserId && e.Kind == SecurityEventKind.SignInApprovalBlocked).ToListAsync()));

        var poll = await client.StatusAsync(sessionId, secret);
        Assert.Equal(HttpStatusCode.Gone, poll.StatusCode);
        Assert.Equal("LOGIN_REFUSED", await AppApiClient.ProblemCodeAsync(poll));

        // The right number afterwards brings nothing back: no approval cookie, no ceremony.
        using var later = new PortalScenario(portal);
        var page = await later.Http.GetAsync(recoverPath);
        Assert.DoesNotContain(LoginApprovalForm.Path, await page.Content.ReadAsStringAsync());
        Assert.False((await Bench.BeginLoginAsync(sessionId, new LoginProof(null, "anything"))).Succeeded);
        Assert.Equal(LoginSessionState.Refused, (await Bench.SessionAsync(sessionId)).State);
    }

    [Fact]
    public async Task This_was_not_me_ends_the_login_and_a_second_right_pick_elsewhere_is_not_approved()
    {
        using var client = new AppApiClient(portal.CreatePortalClient());
        var (sessionId, _, number, recoverPath) = await AppLoginAsync(client);
        using var owner = new PortalScenario(portal);
        using var other = new PortalScenario(portal);
        var right = number.ToString(CultureInfo.InvariantCulture);

        // Two devices get the form; the first right pick wins, the second is not approved and ends nothing.
        var firstForm = await (await owner.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        var secondForm = await (await other.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        await owner.Http.SubmitAsync(firstForm, recoverPath, LoginApprovalForm.Path, new Dictionary<string, string> { ["pick"] = right });
        await other.Http.SubmitAsync(secondForm, recoverPath, LoginApprovalForm.Path, new Dictionary<string, string> { ["pick"] = right });

        Assert.NotNull(owner.Cookies.Cookie(owner.Origin, LoginApprovalCookie.Name));
        Assert.Null(other.Cookies.Cookie(other.Origin, LoginApprovalCookie.Name));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);

        // A device that has the form still ends it with "This wasn't me"; one that loads the page now is told it was confirmed.
        using var third = new PortalScenario(portal);
        var thirdForm = await (await third.Http.GetAsync(recoverPath)).ReadHtmlAsync();
        Assert.Empty(thirdForm.QuerySelectorAll($"form[action='{LoginApprovalForm.Path}']"));
        await other.Http.SubmitAsync(secondForm, recoverPath, LoginApprovalForm.Path, new Dictionary<string, string> { ["pick"] = LoginApprovalForm.NotMe });
        Assert.Equal(LoginSessionState.Refused, (await Bench.SessionAsync(sessionId)).State);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("")]
    public async Task A_pick_that_is_no_number_is_refused_and_changes_nothing(string pick)
    {
        using var client = new AppApiClient(portal.CreatePortalClient());
        var (sessionId, _, _, recoverPath) = await AppLoginAsync(client);
        using var stranger = new PortalScenario(portal);
        var before = await Bench.SessionSnapshotAsync(sessionId);

        var response = await PickAsync(stranger, recoverPath, pick);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(before, await Bench.SessionSnapshotAsync(sessionId));
    }

    [Fact]
    public async Task A_pick_without_the_antiforgery_token_changes_nothing()
    {
        using var client = new AppApiClient(portal.CreatePortalClient());
        var (sessionId, _, _, _) = await AppLoginAsync(client);
        using var stranger = new PortalScenario(portal);
        var before = await Bench.SessionSnapshotAsync(sessionId);

        var response = await stranger.Http.PostAsync(LoginApprovalForm.Path, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["session"] = sessionId,
            ["pick"] = LoginApprovalForm.NotMe,
            ["returnUrl"] = "/",
        }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(before, await Bench.SessionSnapshotAsync(sessionId));
    }

    [Fact]
    public async Task A_completion_link_opened_in_another_signed_in_browser_signs_nobody_out()
    {
        var (victimId, victimEmail) = await Bench.CreateAccountAsync();
        var (_, attackerEmail) = await Bench.CreateAccountAsync();
        using var victim = new PortalScenario(portal);
        await victim.FollowAsync(await victim.LogInAsync(victimEmail));
        using var attacker = new PortalScenario(portal);
        var completion = (await attacker.LogInAsync(attackerEmail)).LocationPath();
        Assert.StartsWith(LoginSessionService.CompletionPath, completion);

        var opened = await victim.Http.GetAsync(completion);

        Assert.Equal(LoginPage.ExpiredSessionUrl, opened.LocationPath());
        Assert.Equal(HttpStatusCode.OK, (await victim.Http.GetAsync("/account")).StatusCode);
        Assert.Single(await portal.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == victimId).ToListAsync()));
        // The attacker's own browser still completes its login.
        Assert.Equal("/account", (await attacker.Http.GetAsync(completion)).LocationPath());
    }

    [Fact]
    public async Task Codes_for_a_browser_login_are_only_taken_in_the_browser_that_started_it()
    {
        var totp = new TotpBench(portal);
        var userId = await Bench.CreateUserAsync();
        var secret = await totp.EnableAsync(userId);
        portal.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await Bench.StartLoginAsync(userId);
        var before = await Bench.SessionSnapshotAsync(sessionId);

        var results = new List<SecondFactorResult>();
        foreach (var proof in new[] { LoginProof.None, new LoginProof("a copied link", null), new LoginProof(null, "an approval") })
        {
            results.Add(await Bench.WithAsync(s => s.GetRequiredService<TotpLogin>().VerifyAsync(sessionId, totp.CodeAt(secret, TimeSpan.Zero), proof)));
        }

        Assert.All(results, r => Assert.Equal(SecondFactorFailure.NotThisDevice, r.Failure));
        Assert.All(results, r => Assert.Equal(TwoFactorMessages.OtherBrowserCode, r.Error));
        Assert.Equal(before, await Bench.SessionSnapshotAsync(sessionId));
        Assert.Equal(0, (await Bench.SessionAsync(sessionId)).FailedAttempts);
        Assert.Equal(0, await totp.FailuresAsync(userId));
        Assert.True((await totp.VerifyAsync(sessionId, totp.CodeAt(secret, TimeSpan.Zero))).Succeeded);
    }

    [Fact]
    public async Task The_browser_session_id_survives_a_renewal_whose_principal_lost_it()
    {
        var store = portal.Services.GetRequiredService<BrowserSessionStore>();
        var userId = await Bench.CreateUserAsync();
        var stamp = await portal.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync());
        AuthenticationTicket Ticket() => new(
            new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, userId), new Claim("AspNet.Identity.SecurityStamp", stamp!)], "Identity.Application")),
            new AuthenticationProperties { ExpiresUtc = portal.Time.GetUtcNow().AddHours(1) },
            "Identity.Application");
        var key = await store.StoreAsync(Ticket());

        // What Identity's security stamp revalidation renews with: a fresh principal without our claim.
        await store.RenewAsync(key, Ticket());
        var retrieved = await store.RetrieveAsync(key);

        Assert.Equal(BrowserSessionStore.SessionIdOf(key), retrieved!.Principal.FindFirstValue(BrowserSessionStore.SessionIdClaim));
    }

    [Fact]
    public async Task A_browser_session_is_stored_under_the_hash_of_its_key_never_the_key()
    {
        var store = portal.Services.GetRequiredService<BrowserSessionStore>();
        var userId = await Bench.CreateUserAsync();
        var stamp = await portal.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync());
        var key = await store.StoreAsync(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, userId), new Claim("AspNet.Identity.SecurityStamp", stamp!)], "Identity.Application")),
            new AuthenticationProperties { ExpiresUtc = portal.Time.GetUtcNow().AddHours(1) },
            "Identity.Application"));

        var row = await portal.WithDbAsync(db => db.BrowserSessions.AsNoTracking().SingleAsync(s => s.UserId == userId));
        // Computed here, not by the store: base64url of SHA-256 over the key's UTF-8 bytes.
        var expected = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
        Assert.Equal(expected, row.Id);
        Assert.NotEqual(key, row.Id);
        Assert.NotNull(await store.RetrieveAsync(key));
        // The id read from a copy of the database is no key: presented as one, it finds nothing.
        Assert.Null(await store.RetrieveAsync(row.Id));
    }
}
