using System.Net;
using AccountsPortal.Features.Accounts.EmailAddresses;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>Changing the account's email address at /account/email, through its form posts and the emailed code.</summary>
public sealed class EmailChangeTests
{
    private static Task<HttpResponseMessage> AskForCodeAsync(PortalScenario person, string newEmail) =>
        person.Http.SubmitAsync(EmailVerifications.EmailChangePath, "new-email", new Dictionary<string, string> { ["EmailInput.Email"] = newEmail });

    private static Task<HttpResponseMessage> EnterCodeAsync(PortalScenario person, string code) =>
        person.Http.SubmitAsync(EmailVerifications.EmailChangePath, "confirm-new-email", new Dictionary<string, string> { ["CodeInput.Code"] = code });

    private static async Task<string?> AlertAsync(HttpResponseMessage response) =>
        (await response.ReadHtmlAsync()).QuerySelector("[role=alert]")?.TextContent.Trim();

    private static Task<string> StoredEmailAsync(PortalAppFactory app, string userId) =>
        app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync());

    private static async Task<(PortalScenario Person, string UserId, string Email)> SignedUpAsync(PortalAppFactory app)
    {
        var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        return (person, userId, email);
    }

    [Fact]
    public async Task A_new_address_is_stored_only_after_its_code_and_the_old_one_is_told()
    {
        using var app = new PortalAppFactory();
        var (person, userId, oldEmail) = await SignedUpAsync(app);
        using var _ = person;
        using var elsewhere = new PortalScenario(app);
        await elsewhere.FollowAsync(await elsewhere.LogInAsync(oldEmail));
        var newEmail = PortalScenario.NewEmail();

        await AskForCodeAsync(person, newEmail);
        Assert.Equal(oldEmail, await StoredEmailAsync(app, userId));
        Assert.Equal(EmailVerifications.WrongCode, await AlertAsync(await EnterCodeAsync(person, "000000")));
        Assert.Equal(oldEmail, await StoredEmailAsync(app, userId));
        var done = await EnterCodeAsync(person, await Mailbox.LatestCodeAsync(app, newEmail));

        var donePage = await done.ReadHtmlAsync();
        Assert.Contains("Your email address was changed.", donePage.Body!.TextContent);
        // Passkeys show the address as their name: the page hands the new one to the browser's passkey managers
        // (WebAuthn L3 §5.1.10.3 signalCurrentUserDetails, sent by PasskeyUserDetailsSignal.razor.js).
        var signal = Assert.Single(donePage.QuerySelectorAll("[data-passkey-signal=current-user-details]"));
        Assert.Equal(
            ["localhost", System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(userId)), newEmail, newEmail],
            new[] { "data-rp-id", "data-user-id", "data-name", "data-display-name" }.Select(signal.GetAttribute));
        Assert.Empty((await (await person.Http.GetAsync(EmailVerifications.EmailChangePath)).ReadHtmlAsync()).QuerySelectorAll("[data-passkey-signal]"));
        Assert.Equal(newEmail, await StoredEmailAsync(app, userId));
        var told = await Mailbox.SingleAsync(app, oldEmail, "Your email address was changed");
        Assert.Contains(newEmail, told.TextBody);
        // This browser stays (and shows the new address); the others end; sign-in uses the new address only.
        var account = await person.Http.GetAsync("/account");
        Assert.Equal(HttpStatusCode.OK, account.StatusCode);
        Assert.Equal(newEmail, (await account.ReadHtmlAsync()).QuerySelector("[data-testid=account-email]")!.TextContent.Trim());
        Assert.True((await elsewhere.Http.GetAsync("/account")).IsRedirect());
        using var later = new PortalScenario(app);
        Assert.Contains(Features.Accounts.SignIn.Login.InvalidCredentialsMessage, await AlertAsync(await later.LogInAsync(oldEmail)));
        Assert.StartsWith("/account/complete-sign-in", (await later.LogInAsync(newEmail)).LocationPath());
    }

    [Fact]
    public async Task A_taken_or_malformed_address_or_a_stale_confirmation_changes_nothing()
    {
        using var app = new PortalAppFactory();
        var (person, userId, email) = await SignedUpAsync(app);
        using var _ = person;
        var (_, other) = await new PasskeyBench(app).CreateAccountAsync();

        Assert.Equal(EmailChanges.InvalidAddress, await AlertAsync(await AskForCodeAsync(person, "not an address")));
        Assert.Equal(EmailChanges.SameAddress, await AlertAsync(await AskForCodeAsync(person, email.ToUpperInvariant())));
        // A taken address is only said to be taken to someone who proved they read it.
        await AskForCodeAsync(person, other);
        Assert.Equal(EmailChanges.Taken, await AlertAsync(await EnterCodeAsync(person, await Mailbox.LatestCodeAsync(app, other))));
        Assert.Equal(email, await StoredEmailAsync(app, userId));

        var started = await AskForCodeAsync(person, PortalScenario.NewEmail());
        Assert.Null(await AlertAsync(started));
        app.Time.Advance(TimeSpan.FromMinutes(6));
        var page = await (await person.Http.GetAsync(EmailVerifications.EmailChangePath)).ReadHtmlAsync();
        Assert.StartsWith("/account/confirm?returnUrl=%2Faccount%2Femail", page.QuerySelectorAll("a").Single(a => a.TextContent.Contains("Confirm it's you")).GetAttribute("href"));
        Assert.Equal(email, await StoredEmailAsync(app, userId));
        Assert.Equal(RecentConfirmation.Required, await new PasskeyBench(app).WithAsync(s =>
            Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<EmailChanges>(s).CompleteAsync(userId, null, "x", "123456")));
    }
}
