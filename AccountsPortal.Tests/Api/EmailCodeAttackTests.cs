using System.Net;
using AccountsPortal.Features.Accounts.EmailAddresses;
using AccountsPortal.Features.Accounts.Passwords;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>What an outside review tried against emailed codes and links, kept as tests.</summary>
public sealed class EmailCodeAttackTests
{
    private static async Task<string?> AlertAsync(HttpResponseMessage response) =>
        (await response.ReadHtmlAsync()).QuerySelector("[role=alert]")?.TextContent.Trim();

    private static string VerificationCookie(PortalScenario person) =>
        person.Cookies.Cookie(person.Origin, EmailVerifications.CookieName) ?? throw new InvalidOperationException("No verification cookie.");

    [Fact]
    public async Task An_email_change_code_never_signs_a_browser_in_at_the_sign_up_page()
    {
        using var app = new PortalAppFactory();
        using var owner = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await owner.SignUpAndReadRecoveryKeyAsync(email);
        var newEmail = PortalScenario.NewEmail();
        await owner.Http.SubmitAsync(EmailVerifications.EmailChangePath, "new-email", new Dictionary<string, string> { ["EmailInput.Email"] = newEmail });
        var copiedCookie = VerificationCookie(owner);
        var code = await Mailbox.LatestCodeAsync(app, newEmail);

        // Someone with a copy of the cookie and the code, in a browser of their own, at the sign-up code page.
        using var thief = new PortalScenario(app);
        thief.Cookies.Add(thief.Origin, new Cookie(EmailVerifications.CookieName, copiedCookie));
        var page = await (await thief.Http.GetAsync(EmailVerifications.VerifyPath)).ReadHtmlAsync();
        Assert.Equal(EmailVerifications.Expired, page.QuerySelector("[role=alert]")!.TextContent.Trim());
        var verified = await new PasskeyBench(app).WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<EmailVerifications>(s).VerifyAsync(copiedCookie, code, [EmailVerificationPurpose.SignUp, EmailVerificationPurpose.SignIn]));

        Assert.Equal(EmailVerifications.Expired, verified.Error);
        Assert.Null(thief.AuthCookie);
        // The owner's code is untouched by the attempt and still completes the change.
        var done = await owner.Http.SubmitAsync(EmailVerifications.EmailChangePath, "confirm-new-email", new Dictionary<string, string> { ["CodeInput.Code"] = code });
        Assert.Contains("Your email address was changed.", (await done.ReadHtmlAsync()).Body!.TextContent);
    }

    [Fact]
    public async Task A_second_request_closes_the_first_code_and_a_change_closes_every_open_one()
    {
        using var app = new PortalAppFactory();
        using var owner = new PortalScenario(app);
        await owner.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        var newEmail = PortalScenario.NewEmail();
        var ask = () => owner.Http.SubmitAsync(EmailVerifications.EmailChangePath, "new-email", new Dictionary<string, string> { ["EmailInput.Email"] = newEmail });

        await ask();
        var first = VerificationCookie(owner);
        var firstCode = await Mailbox.LatestCodeAsync(app, newEmail);
        await ask();
        var bench = new PasskeyBench(app);
        Assert.Null(await bench.WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<EmailVerifications>(s).FindAsync(first)));
        var stale = await bench.WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<EmailVerifications>(s).VerifyAsync(first, firstCode, [EmailVerificationPurpose.ChangeEmail]));
        Assert.Equal(EmailVerifications.Expired, stale.Error);

        await owner.Http.SubmitAsync(EmailVerifications.EmailChangePath, "confirm-new-email", new Dictionary<string, string>
        {
            ["CodeInput.Code"] = await Mailbox.LatestCodeAsync(app, newEmail),
        });
        Assert.Equal(0, await app.WithDbAsync(db => db.EmailVerifications.CountAsync(v => v.ConsumedAt == null)));
    }

    [Fact]
    public async Task New_codes_give_no_new_guesses_ten_wrong_codes_per_account_and_hour()
    {
        using var app = new PortalAppFactory();
        using var squatter = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await squatter.SignUpAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        var answers = new List<string?>();

        // Someone who knows the password but not the mailbox: log in (a new code each time), guess, again.
        for (var round = 0; round < 3; round++)
        {
            await squatter.LogInAsync(email);
            for (var guess = 0; guess < 4; guess++)
            {
                answers.Add(await AlertAsync(await squatter.EnterEmailCodeAsync(email, $"{round}{guess}0000")));
            }
        }

        Assert.Equal(10, answers.Count(a => a is EmailVerifications.WrongCode or EmailVerifications.Expired));
        Assert.Equal([EmailVerifications.TooManyForAccount, EmailVerifications.TooManyForAccount], answers.Skip(10));
        // Even the right code waits out the hour; one code is live at a time.
        Assert.Equal(EmailVerifications.TooManyForAccount, await AlertAsync(await squatter.EnterEmailCodeAsync(email)));
        Assert.Equal(1, await app.WithDbAsync(db => db.EmailVerifications.CountAsync(v => v.UserId == userId && v.ConsumedAt == null)));
        Assert.False(await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.EmailConfirmed).SingleAsync()));
        app.Time.Advance(TimeSpan.FromHours(1));
        await squatter.LogInAsync(email);
        var (final, _) = await squatter.FollowAsync(await squatter.EnterEmailCodeAsync(email));
        Assert.Equal(HttpStatusCode.OK, final.StatusCode);
        Assert.NotNull(squatter.AuthCookie);
    }

    [Fact]
    public async Task Parallel_uses_of_one_reset_link_reset_once_and_say_nothing_internal()
    {
        using var app = new PortalAppFactory();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using (var asker = new PortalScenario(app))
        {
            await asker.Http.SubmitAsync("/account/forgot-password", "forgot-password", new Dictionary<string, string> { ["Input.Email"] = email });
        }

        var message = (await Mailbox.MessagesToAsync(app, email)).Single(m => m.Subject == "Reset your password");
        var link = new Uri(System.Text.RegularExpressions.Regex.Match(message.TextBody!, @"http://localhost/account/reset-password\?\S+").Value).PathAndQuery;
        var people = Enumerable.Range(0, 12).Select(_ => new PortalScenario(app)).ToList();
        var pages = await Task.WhenAll(people.Select(p => p.Http.GetAsync(link)));
        Assert.All(pages, p => Assert.Equal(HttpStatusCode.OK, p.StatusCode));

        // Every form is read before any is posted: a page loaded after the first reset no longer offers one.
        var forms = await Task.WhenAll(pages.Select(p => p.ReadHtmlAsync()));
        var responses = await Task.WhenAll(people.Select((p, i) => p.Http.SubmitAsync(forms[i], link, "reset-password", new Dictionary<string, string>
        {
            ["Input.NewPassword"] = $"new passphrase number {i}",
            ["Input.ConfirmPassword"] = $"new passphrase number {i}",
        })));

        Assert.Single(responses, r => r.IsRedirect());
        foreach (var refused in responses.Where(r => !r.IsRedirect()))
        {
            var alert = (int)refused.StatusCode == 200 ? await AlertAsync(refused) : PasswordChanges.LinkNotValid;
            Assert.True((int)refused.StatusCode is 200 or 400, $"{(int)refused.StatusCode}");
            Assert.Equal(PasswordChanges.LinkNotValid, alert);
        }

        people.ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task An_app_gets_no_token_for_an_account_whose_address_was_never_verified()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAsync(email);
        using var client = new AppApiClient(app.CreatePortalClient());

        var before = await client.LogInAsync(email);
        var tokens = await app.WithDbAsync(db => db.AppTokens.CountAsync());
        await person.FollowAsync(await person.EnterEmailCodeAsync(email));
        var after = await client.LogInAsync(email);

        Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode);
        Assert.Equal("EMAIL_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(before));
        Assert.Equal(0, tokens);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
