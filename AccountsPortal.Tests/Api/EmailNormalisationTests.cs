using System.Net;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Features.Accounts.SignUp;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// One normalisation of an email for every key (account lookup, uniqueness, rate limiter, lockout), on
/// every way in: "\u212Aate" (KELVIN SIGN) is the account "kate", as the account lookup already says.
/// </summary>
public sealed class EmailNormalisationTests
{
    private const char Kelvin = '\u212A';

    private static string NewKateEmail() => $"kate-{Guid.NewGuid():N}@example.test";

    private static Task<int> AccountsAsync(PortalAppFactory app, string email) =>
        app.WithDbAsync(db => db.Users.CountAsync(u => u.NormalizedEmail == email.ToUpperInvariant()));

    [Fact]
    public async Task Sign_up_with_a_kelvin_sign_for_an_existing_account_is_a_duplicate()
    {
        using var app = new PortalAppFactory();
        var email = NewKateEmail();
        using (var owner = new PortalScenario(app))
        {
            await owner.SignUpAndReadRecoveryKeyAsync(email);
        }

        using var other = new PortalScenario(app);
        var response = await other.SignUpAsync(Kelvin + email[1..]);

        // Answered like any sign-up; the owner of "kate" is told; no second account.
        Assert.Equal(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, response.LocationPath());
        Assert.Single(await Mailbox.MessagesToAsync(app, email), m => m.Subject == "Someone tried to sign up with your address");
        Assert.Null(other.AuthCookie);
        Assert.Equal(1, await app.WithDbAsync(db => db.Users.CountAsync()));
    }

    [Fact]
    public async Task Sign_up_with_a_kelvin_sign_stores_the_address_as_the_lookup_normalises_it()
    {
        using var app = new PortalAppFactory();
        var email = NewKateEmail();
        using var person = new PortalScenario(app);

        var words = await person.SignUpAndReadRecoveryKeyAsync(Kelvin + email[1..]);

        Assert.Equal(24, words.Length);
        var stored = await app.WithDbAsync(db => db.Users.Select(u => new { u.Email, u.UserName, u.NormalizedEmail }).SingleAsync());
        Assert.Equal("K" + email[1..], stored.Email);
        Assert.Equal(stored.Email, stored.UserName);
        Assert.Equal(email.ToUpperInvariant(), stored.NormalizedEmail);

        // Both spellings sign in to that one account.
        using var ascii = new PortalScenario(app);
        Assert.StartsWith("/account/complete-sign-in", (await ascii.LogInAsync(email)).LocationPath());
    }

    [Fact]
    public async Task The_login_form_locks_and_limits_the_kelvin_spelling_with_the_ascii_one()
    {
        using var app = new PortalAppFactory();
        var email = NewKateEmail();
        var userId = (await new PasskeyBench(app).WithAsync(async s =>
        {
            var users = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<Features.Accounts.PortalUser>>(s);
            var user = new Features.Accounts.PortalUser { UserName = email, Email = email, EmailConfirmed = true };
            Assert.True((await users.CreateAsync(user, PortalScenario.StrongPassword)).Succeeded);
            return user.Id;
        }));
        using var person = new PortalScenario(app);
        for (var i = 0; i < 5; i++)
        {
            await person.LogInAsync(email, "not the password");
        }

        // The account is locked: the right password typed with a KELVIN SIGN is refused as locked too.
        var kelvin = await person.LogInAsync(Kelvin + email[1..]);

        Assert.Equal(HttpStatusCode.OK, kelvin.StatusCode);
        Assert.Contains(Login.LockedOutMessage, (await kelvin.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent);
        Assert.Null(person.AuthCookie);
        var counters = await app.WithDbAsync(db => db.AttemptCounters.Select(c => c.Key).ToListAsync());
        Assert.Equal([AttemptLimits.PasswordKey(email.ToUpperInvariant())], counters);
        Assert.Equal(1, await AccountsAsync(app, email));
        var kinds = await app.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == userId).Select(e => e.Kind).ToListAsync());
        Assert.Equal(5, kinds.Count(k => k == Features.Activity.SecurityEventKind.PasswordRejected));
        Assert.Single(kinds, k => k == Features.Activity.SecurityEventKind.SignInRefusedWhileLocked);
    }

    [Fact]
    public async Task The_login_form_rate_limit_counts_the_kelvin_spelling_as_the_same_account()
    {
        using var app = new PortalAppFactory().WithSetting("RateLimits:AttemptsPerMinutePerAccount", "2");
        var email = NewKateEmail();
        using (var owner = new PortalScenario(app))
        {
            await owner.SignUpAndReadRecoveryKeyAsync(email);
        }

        using var person = new PortalScenario(app);
        await person.LogInAsync(email, "wrong one");
        await person.LogInAsync(email.ToUpperInvariant(), "wrong two");
        var kelvin = await person.LogInAsync(Kelvin + email[1..]);

        Assert.Contains(AttemptMessages.RateLimited, (await kelvin.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent);
        Assert.Null(person.AuthCookie);
    }
}
