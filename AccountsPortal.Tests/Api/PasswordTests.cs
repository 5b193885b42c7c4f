using System.Net;
using AccountsPortal.Features.Accounts.Passwords;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Activity;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>Changing a password and resetting a forgotten one, through the pages' form posts and the emailed link.</summary>
public sealed class PasswordTests
{
    private const string NewPassword = "a brand new passphrase";

    private static Task<string> HashAsync(PortalAppFactory app, string email) =>
        app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.PasswordHash!).SingleAsync());

    private static Task<HttpResponseMessage> ChangeAsync(PortalScenario person, string current, string next, string? confirm = null) =>
        person.Http.SubmitAsync(ChangePassword.Path, "change-password", new Dictionary<string, string>
        {
            ["Input.CurrentPassword"] = current,
            ["Input.NewPassword"] = next,
            ["Input.ConfirmPassword"] = confirm ?? next,
        });

    private static async Task<List<string>> AlertsAsync(HttpResponseMessage response) =>
        [.. (await response.ReadHtmlAsync()).QuerySelectorAll("[role=alert]").Select(a => a.TextContent.Trim())];

    [Fact]
    public async Task Changing_the_password_keeps_this_browser_ends_the_others_and_emails_the_owner()
    {
        using var app = new PortalAppFactory();
        using var here = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await here.SignUpAndReadRecoveryKeyAsync(email);
        using var elsewhere = new PortalScenario(app);
        await elsewhere.FollowAsync(await elsewhere.LogInAsync(email));

        var response = await ChangeAsync(here, PortalScenario.StrongPassword, NewPassword);

        Assert.Contains("Your password was changed.", (await response.ReadHtmlAsync()).Body!.TextContent);
        Assert.Equal(HttpStatusCode.OK, (await here.Http.GetAsync("/account")).StatusCode);
        Assert.True((await elsewhere.Http.GetAsync("/account")).IsRedirect());
        using var later = new PortalScenario(app);
        Assert.Contains(Features.Accounts.SignIn.Login.InvalidCredentialsMessage, await AlertsAsync(await later.LogInAsync(email)));
        Assert.StartsWith("/account/complete-sign-in", (await later.LogInAsync(email, NewPassword)).LocationPath());
        Assert.Contains("The password of your account was changed.", (await Mailbox.SingleAsync(app, email, "Your password was changed")).TextBody);
    }

    public static TheoryData<string, string, string, string> BadChanges => new()
    {
        { "wrong current", "not my password", NewPassword, PasswordChanges.WrongCurrentPassword },
        { "too short", PortalScenario.StrongPassword, "short", "Passwords must be at least 12 characters." },
        { "mismatch", PortalScenario.StrongPassword, NewPassword, PasswordChanges.Mismatch },
    };

    [Theory]
    [MemberData(nameof(BadChanges))]
    public async Task A_refused_change_says_why_and_changes_nothing(string because, string current, string next, string message)
    {
        using var app = new PortalAppFactory();
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var hash = await HashAsync(app, email);

        var response = await ChangeAsync(person, current, next, because == "mismatch" ? "something else entirely" : null);

        Assert.Contains(message, await AlertsAsync(response));
        Assert.Equal(hash, await HashAsync(app, email));
        Assert.Equal(HttpStatusCode.OK, (await person.Http.GetAsync("/account")).StatusCode);
    }

    [Fact]
    public async Task Without_a_recent_confirmation_the_page_asks_for_one_first()
    {
        using var app = new PortalAppFactory();
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var hash = await HashAsync(app, email);
        app.Time.Advance(TimeSpan.FromMinutes(6));

        var page = await (await person.Http.GetAsync(ChangePassword.Path)).ReadHtmlAsync();

        Assert.StartsWith("/account/confirm?returnUrl=%2Faccount%2Fpassword", page.QuerySelectorAll("a").Single(a => a.TextContent.Contains("Confirm it's you")).GetAttribute("href"));
        Assert.Empty(page.QuerySelectorAll("input[type=password]"));
        Assert.Equal(hash, await HashAsync(app, email));
    }

    [Fact]
    public async Task Forgot_password_answers_alike_for_any_address_and_emails_only_the_real_one()
    {
        using var app = new PortalAppFactory();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var unknown = PortalScenario.NewEmail();
        using var person = new PortalScenario(app);

        var known = await person.Http.SubmitAsync("/account/forgot-password", "forgot-password", new Dictionary<string, string> { ["Input.Email"] = email });
        var other = await person.Http.SubmitAsync("/account/forgot-password", "forgot-password", new Dictionary<string, string> { ["Input.Email"] = unknown });

        Assert.Equal(known.StatusCode, other.StatusCode);
        Assert.Equal(ForgotPassword.SentMessage, (await known.ReadHtmlAsync()).QuerySelector("[role=status]")!.TextContent.Trim());
        Assert.Equal(ForgotPassword.SentMessage, (await other.ReadHtmlAsync()).QuerySelector("[role=status]")!.TextContent.Trim());
        Assert.Single(await Mailbox.MessagesToAsync(app, email), m => m.Subject == "Reset your password");
        Assert.Empty(await Mailbox.MessagesToAsync(app, unknown));
    }

    /// <summary>Asks for a reset link for <paramref name="email"/> and returns its local path and query, read from the .eml file.</summary>
    private static async Task<string> ResetLinkAsync(PortalAppFactory app, string email)
    {
        using var person = new PortalScenario(app);
        await person.Http.SubmitAsync("/account/forgot-password", "forgot-password", new Dictionary<string, string> { ["Input.Email"] = email });
        var message = (await Mailbox.MessagesToAsync(app, email)).Last(m => m.Subject == "Reset your password");
        var link = System.Text.RegularExpressions.Regex.Match(message.TextBody!, @"http://localhost/account/reset-password\?\S+").Value;
        Assert.NotEmpty(link);
        return new Uri(link).PathAndQuery;
    }

    private static Task<HttpResponseMessage> ResetAsync(PortalScenario person, string link, string password) =>
        person.Http.SubmitAsync(link, "reset-password", new Dictionary<string, string>
        {
            ["Input.NewPassword"] = password,
            ["Input.ConfirmPassword"] = password,
        });

    [Fact]
    public async Task The_reset_link_works_once_ends_every_session_signs_nobody_in_and_keeps_the_second_factor()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var totp = new TotpBench(app);
        using var owner = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await owner.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        await totp.EnableAsync(userId);
        await bench.SignedInBrowserAsync(userId);
        var link = await ResetLinkAsync(app, email);
        using var resetter = new PortalScenario(app);

        var reset = await ResetAsync(resetter, link, NewPassword);

        Assert.Equal("/login?notice=password-reset", reset.LocationPath());
        Assert.Null(resetter.AuthCookie);
        Assert.Empty(await app.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).ToListAsync()));
        Assert.Equal(1, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));
        Assert.Contains("every browser and app was signed out", (await Mailbox.SingleAsync(app, email, "Your password was reset")).TextBody, StringComparison.OrdinalIgnoreCase);
        // The next login asks for the code, as before.
        using var next = new PortalScenario(app);
        Assert.StartsWith("/two-factor/verify", (await next.LogInAsync(email, NewPassword)).LocationPath());

        // Used once: the same link is refused, on the page and on a post.
        var hash = await HashAsync(app, email);
        var again = await (await resetter.Http.GetAsync(link)).ReadHtmlAsync();
        Assert.Equal(PasswordChanges.LinkNotValid, again.QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Equal(hash, await HashAsync(app, email));
        Assert.Contains(SecurityEventKind.PasswordReset, await app.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == userId).Select(e => e.Kind).ToListAsync()));
    }

    [Fact]
    public async Task The_reset_link_expires_after_an_hour()
    {
        using var app = new PortalAppFactory();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var link = await ResetLinkAsync(app, email);
        var hash = await HashAsync(app, email);
        app.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        using var person = new PortalScenario(app);

        var page = await (await person.Http.GetAsync(link)).ReadHtmlAsync();
        var service = await new PasskeyBench(app).WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<PasswordChanges>(s).ResetAsync(
                System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://localhost"), link).Query)["user"],
                System.Web.HttpUtility.ParseQueryString(new Uri(new Uri("http://localhost"), link).Query)["token"], NewPassword, NewPassword));

        Assert.Equal(PasswordChanges.LinkNotValid, page.QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Equal([PasswordChanges.LinkNotValid], service);
        Assert.Equal(hash, await HashAsync(app, email));
    }

    [Fact]
    public async Task A_weak_new_password_keeps_the_link_usable()
    {
        using var app = new PortalAppFactory();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var link = await ResetLinkAsync(app, email);
        using var person = new PortalScenario(app);

        var weak = await ResetAsync(person, link, "short");
        var strong = await ResetAsync(person, link, NewPassword);

        Assert.Contains("Passwords must be at least 12 characters.", await AlertsAsync(weak));
        Assert.Equal("/login?notice=password-reset", strong.LocationPath());
    }
}
