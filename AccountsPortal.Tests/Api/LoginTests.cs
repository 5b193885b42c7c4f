using System.Net;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

public sealed class LoginTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private const string InvalidCredentials = "Incorrect email or password.";

    private async Task<string> NewAccountAsync()
    {
        var email = PortalScenario.NewEmail();
        using var person = new PortalScenario(app);
        await person.SignUpAndReadRecoveryKeyAsync(email);
        return email;
    }

    private static async Task<string?> AlertAsync(HttpResponseMessage response) =>
        (await response.ReadHtmlAsync()).QuerySelector("[role=alert]")?.TextContent.Trim();

    private Task<int> CountLoginSessionsAsync() => app.WithDbAsync(db => db.LoginSessions.CountAsync());

    [Fact]
    public async Task Password_login_without_a_second_factor_signs_in_through_the_completion_endpoint()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);

        var response = await person.LogInAsync(email);

        Assert.True(response.IsRedirect());
        Assert.StartsWith(LoginSessionService.CompletionPath + "?session=", response.LocationPath());
        Assert.NotNull(person.PendingLoginSecret);
        Assert.Null(person.AuthCookie);

        var (final, locations) = await person.FollowAsync(response);
        Assert.Equal("/account", locations[^1]);
        Assert.Equal(HttpStatusCode.OK, final.StatusCode);
        Assert.NotNull(person.AuthCookie);
        Assert.Null(person.PendingLoginSecret);
        Assert.Contains(email, await final.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Wrong_password_and_unknown_email_get_the_same_message_and_create_nothing()
    {
        var email = await NewAccountAsync();
        var sessions = await CountLoginSessionsAsync();
        using var person = new PortalScenario(app);

        var wrongPassword = await person.LogInAsync(email, "not the right password");
        var unknownEmail = await person.LogInAsync(PortalScenario.NewEmail(), "not the right password");

        Assert.Equal(InvalidCredentials, await AlertAsync(wrongPassword));
        Assert.Equal(InvalidCredentials, await AlertAsync(unknownEmail));
        Assert.Equal(HttpStatusCode.OK, wrongPassword.StatusCode);
        Assert.Equal(HttpStatusCode.OK, unknownEmail.StatusCode);
        Assert.Null(person.PendingLoginSecret);
        Assert.Null(person.AuthCookie);
        Assert.Equal(sessions, await CountLoginSessionsAsync());
    }

    [Fact]
    public async Task Repeated_failures_lock_the_account_even_for_the_right_password()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);

        for (var attempt = 1; attempt < 5; attempt++)
        {
            Assert.Equal(InvalidCredentials, await AlertAsync(await person.LogInAsync(email, "wrong password " + attempt)));
        }

        Assert.Equal(Login.LockedOutMessage, await AlertAsync(await person.LogInAsync(email, "wrong password 5")));
        var sessions = await CountLoginSessionsAsync();

        var rightPassword = await person.LogInAsync(email);

        Assert.Equal(Login.LockedOutMessage, await AlertAsync(rightPassword));
        Assert.Null(person.PendingLoginSecret);
        Assert.Null(person.AuthCookie);
        Assert.Equal(sessions, await CountLoginSessionsAsync());
        var lockedUntil = await app.WithDbAsync(db => db.AttemptCounters
            .Where(c => c.Key == AccountsPortal.Features.Accounts.Attempts.AttemptLimits.PasswordKey(email.ToUpperInvariant())).Select(c => c.LockedUntil).SingleAsync());
        Assert.True(lockedUntil > app.Time.GetUtcNow());
    }

    [Fact]
    public async Task The_completion_link_does_nothing_in_a_browser_without_the_pending_cookie()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);
        using var stranger = new PortalScenario(app);
        var completion = (await person.LogInAsync(email)).LocationPath();
        var sessionId = completion.Split("session=")[1];

        var strangers = await stranger.Http.GetAsync(completion);

        Assert.Equal("/login?notice=expired", strangers.LocationPath());
        Assert.Null(stranger.AuthCookie);
        Assert.Null(await app.WithDbAsync(db => db.LoginSessions.Where(s => s.Id == sessionId).Select(s => s.ConsumedAt).SingleAsync()));

        // The browser that passed the password step can still finish.
        var own = await person.Http.GetAsync(completion);
        Assert.Equal("/account", own.LocationPath());
        Assert.NotNull(person.AuthCookie);
    }

    [Fact]
    public async Task The_completion_link_works_only_once()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);
        var completion = (await person.LogInAsync(email)).LocationPath();
        var secret = person.PendingLoginSecret!;

        Assert.Equal("/account", (await person.Http.GetAsync(completion)).LocationPath());

        // Replay with the pending cookie put back, from a browser that is signed out.
        using var replay = new PortalScenario(app);
        replay.Cookies.Add(replay.Origin, new Cookie(PendingLoginCookie.Name, secret));
        var second = await replay.Http.GetAsync(completion);

        Assert.Equal("/login?notice=expired", second.LocationPath());
        Assert.Null(replay.AuthCookie);
    }

    [Fact]
    public async Task An_expired_login_session_cannot_be_completed()
    {
        using var isolated = new PortalAppFactory();
        using var person = new PortalScenario(isolated);
        var email = PortalScenario.NewEmail();
        using (var signUp = new PortalScenario(isolated))
        {
            await signUp.SignUpAndReadRecoveryKeyAsync(email);
        }

        var completion = (await person.LogInAsync(email)).LocationPath();
        isolated.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));

        var response = await person.Http.GetAsync(completion);

        Assert.Equal("/login?notice=expired", response.LocationPath());
        Assert.Null(person.AuthCookie);
        var login = await person.Http.GetAsync("/login?notice=expired");
        Assert.Contains("This login session has expired", await login.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("//evil.example", "/account")]
    [InlineData("/\\evil.example", "/account")]
    [InlineData("https://evil.example", "/account")]
    [InlineData("https://evil.example/account", "/account")]
    [InlineData("/account", "/account")]
    [InlineData("/", "/")]
    public async Task The_return_url_can_only_lead_to_this_site(string returnUrl, string landing)
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);

        var (_, locations) = await person.FollowAsync(await person.LogInAsync(email, returnUrl: returnUrl));

        Assert.Equal(landing, locations[^1]);
        Assert.NotNull(person.AuthCookie);
    }

    [Fact]
    public async Task The_account_page_sends_signed_out_visitors_to_login()
    {
        using var person = new PortalScenario(app);

        var response = await person.Http.GetAsync("/account");

        Assert.True(response.IsRedirect());
        Assert.Equal("/login?returnUrl=%2Faccount", response.LocationPath());
    }

    [Fact]
    public async Task Sign_out_clears_the_cookie()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);
        await person.FollowAsync(await person.LogInAsync(email));
        Assert.NotNull(person.AuthCookie);

        var response = await person.Http.SubmitAsync("/account", "/account/logout", new Dictionary<string, string>());

        Assert.Equal("/login?notice=signed-out", response.LocationPath());
        Assert.Null(person.AuthCookie);
        Assert.True((await person.Http.GetAsync("/account")).IsRedirect());
    }

    [Fact]
    public async Task Sign_out_without_the_antiforgery_token_is_refused()
    {
        var email = await NewAccountAsync();
        using var person = new PortalScenario(app);
        await person.FollowAsync(await person.LogInAsync(email));

        var response = await person.Http.PostAsync("/account/logout", new FormUrlEncodedContent([]));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.NotNull(person.AuthCookie);
    }
}
