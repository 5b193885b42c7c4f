using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Notifications;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>The owner's emails, read back from the pickup directory as .eml files.</summary>
public sealed class NotificationTests
{
    private const string Chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    private static string Text(MimeKit.MimeMessage message) => (message.TextBody ?? "").ReplaceLineEndings("\n");

    [Fact]
    public async Task Each_security_change_emails_the_owner_what_when_from_where_and_what_to_do()
    {
        using var app = new PortalAppFactory().StartKestrel();
        var bench = new PasskeyBench(app);
        var totp = new TotpBench(app);
        using var person = new PortalScenario(app);
        person.Http.DefaultRequestHeaders.UserAgent.ParseAdd(Chrome);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

        // Through the pages' services (a circuit has no request: the browser session stands in), and through form posts.
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator, "Phone");
        var browser = await bench.SignedInBrowserAsync(userId);
        await bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, browser));
        await totp.EnableAsync(userId);
        await bench.WithAsync(async s => await s.GetRequiredService<TotpSetup>().DisableAsync(userId, await PasskeyBench.SignedInBrowserAsync(s, userId)));
        using var guesser = new PortalScenario(app);
        guesser.Http.DefaultRequestHeaders.UserAgent.ParseAdd(Chrome);
        for (var i = 0; i < 5; i++)
        {
            await guesser.LogInAsync(email, "not the password");
        }

        var subjects = (await Mailbox.MessagesToAsync(app, email)).Select(m => m.Subject).ToList();
        Assert.Equal(
        [
            "Verify your email address",
            "A passkey was added to your account",
            "A passkey was deleted from your account",
            "Your authenticator app was turned on",
            "Your authenticator app was turned off",
            "Sign-in to your account was locked",
        ], subjects);

        var locked = await Mailbox.SingleAsync(app, email, "Sign-in to your account was locked");
        Assert.Equal(email, locked.To.Mailboxes.Single().Address);
        var text = Text(locked);
        Assert.Contains("Too many wrong passwords were entered for your account", text);
        Assert.Contains("Browser or app: Chrome on Linux", text);
        Assert.Contains("IP address: 127.0.0.1", text);
        Assert.Matches(@"When: \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC", text);
        Assert.Contains($"{app.ServerAddress!.ToString().TrimEnd('/')}/account/activity", text);
        Assert.Contains("Chrome on Linux", locked.HtmlBody);

        var added = Text(await Mailbox.SingleAsync(app, email, "A passkey was added to your account"));
        Assert.Contains("A passkey named \"Phone\" was added to your account.", added);
        Assert.Contains("If this wasn't you", added);
    }

    [Fact]
    public async Task A_sign_in_from_a_browser_or_app_not_seen_before_is_told_once()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        using var phone = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await phone.SignUpAndReadRecoveryKeyAsync(email);
        // The browser that signed up signs in again: seen before.
        await phone.FollowAsync(await phone.LogInAsync(email));
        Assert.DoesNotContain(await Mailbox.MessagesToAsync(app, email), m => m.Subject == "New sign-in to your account");

        using var laptop = new PortalScenario(app);
        laptop.Http.DefaultRequestHeaders.UserAgent.ParseAdd(Chrome);
        await laptop.FollowAsync(await laptop.LogInAsync(email));
        await laptop.FollowAsync(await laptop.LogInAsync(email));
        using var client = new AppApiClient(new HttpClient { BaseAddress = app.ServerAddress });
        await client.LogInAsync(email);
        await client.LogInAsync(email);

        var told = (await Mailbox.MessagesToAsync(app, email)).Where(m => m.Subject == "New sign-in to your account").Select(m => m.TextBody!).ToList();
        Assert.Equal(2, told.Count);
        Assert.Contains("not seen before: Chrome on Linux at 127.0.0.1.", told[0]);
        Assert.Contains($"not seen before: {AppApiClient.ClientName} (an app) at 127.0.0.1.", told[1]);
    }

    [Fact]
    public async Task A_password_only_app_login_failing_after_remembering_its_app_leaves_nothing_and_the_next_login_is_told()
    {
        var fail = new FailOnceAfter("INSERT INTO \"KnownDevices\"");
        using var portal = AppApiClient.Configure(new PortalAppFactory());
        using var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(fail)));
        var (userId, email) = await new PasskeyBench(portal).CreateAccountAsync();
        // The account has a device already: a new one is told about.
        await portal.WithDbAsync(db =>
        {
            db.KnownDevices.Add(new KnownDevice { UserId = userId, DeviceKey = "browser:seen", FirstSeenAt = portal.Time.GetUtcNow() });
            return db.SaveChangesAsync();
        });
        using var client = new AppApiClient(app.CreateClient());
        fail.Arm();

        var failed = await client.LogInAsync(email);

        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(0, await portal.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
        Assert.Equal(1, await portal.WithDbAsync(db => db.KnownDevices.CountAsync(d => d.UserId == userId)));
        Assert.Equal(0, await portal.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId)));

        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);
        Assert.Equal(1, await portal.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.NewDeviceSignedIn)));
    }

    /// <summary>Fails the request (throws) once, right after the first command containing <paramref name="fragment"/> once armed.</summary>
    private sealed class FailOnceAfter(string fragment) : DbCommandInterceptor
    {
        private int armed;

        public void Arm() => Volatile.Write(ref armed, 1);

        public override ValueTask<int> NonQueryExecutedAsync(
            System.Data.Common.DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default) =>
            command.CommandText.Contains(fragment, StringComparison.Ordinal) && Interlocked.Exchange(ref armed, 0) == 1
                ? throw new InvalidOperationException("Failed on purpose after " + fragment)
                : ValueTask.FromResult(result);
    }

    [Fact]
    public async Task A_refused_change_sends_nothing()
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator, "Phone");
        var before = (await Mailbox.MessagesToAsync(app, email)).Count;
        var stale = await bench.SignedInBrowserAsync(userId);
        app.Time.Advance(TimeSpan.FromMinutes(6));

        var refused = await bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, stale));

        Assert.NotNull(refused.Error);
        Assert.Equal(before, (await Mailbox.MessagesToAsync(app, email)).Count);
    }

    [Theory]
    [InlineData(SecurityEventKind.RecoveryKeyUsed, "Your recovery key was used")]
    [InlineData(SecurityEventKind.RecoveryKeyRegenerated, "A new recovery key was generated")]
    [InlineData(SecurityEventKind.AuthenticatorAppReconfigured, "Your authenticator app was replaced")]
    [InlineData(SecurityEventKind.SecondFactorLockedOut, "Two-factor for your account was locked")]
    [InlineData(SecurityEventKind.SignInApprovalBlocked, "A sign-in to your account was blocked")]
    [InlineData(SecurityEventKind.PasswordChanged, "Your password was changed")]
    public async Task Every_notified_kind_reaches_a_verified_owner_with_its_facts_and_never_an_unverified_address(SecurityEventKind kind, string subject)
    {
        using var app = new PortalAppFactory();
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        var (unverified, unverifiedEmail) = await bench.CreateAccountAsync();
        await app.WithDbAsync(db => db.Users.Where(u => u.Id == unverified).ExecuteUpdateAsync(set => set.SetProperty(u => u.EmailConfirmed, false)));

        await bench.WithAsync(async s =>
        {
            var events = s.GetRequiredService<SecurityEvents>();
            await events.RecordAsync(userId, kind, "Chrome on Linux at 203.0.113.9");
            await events.RecordAsync(unverified, kind, "Chrome on Linux at 203.0.113.9");
            return true;
        });

        var message = await Mailbox.SingleAsync(app, email, subject);
        Assert.Equal(email, message.To.Mailboxes.Single().Address);
        Assert.Matches(@"When: \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC", Text(message));
        Assert.Contains("Browser or app: ", Text(message));
        Assert.Contains("IP address: ", Text(message));
        Assert.Contains("If this wasn't you", Text(message));
        Assert.Empty(await Mailbox.MessagesToAsync(app, unverifiedEmail));
    }

    [Fact]
    public void Every_notified_kind_has_a_subject_and_the_others_none()
    {
        var notified = Enum.GetValues<SecurityEventKind>().Where(k => SecurityNotifications.Describe(k, "x") is not null).ToList();

        Assert.Equal(
        [
            SecurityEventKind.AccountLockedOut, SecurityEventKind.PasskeyAdded, SecurityEventKind.PasskeyDeleted,
            SecurityEventKind.AuthenticatorAppEnabled, SecurityEventKind.AuthenticatorAppReconfigured, SecurityEventKind.AuthenticatorAppDisabled,
            SecurityEventKind.SecondFactorLockedOut, SecurityEventKind.RecoveryKeyUsed, SecurityEventKind.RecoveryKeyRegenerated,
            SecurityEventKind.SignInApprovalBlocked, SecurityEventKind.PasswordChanged, SecurityEventKind.PasswordReset,
            SecurityEventKind.EmailChanged, SecurityEventKind.NewDeviceSignedIn,
        ], notified);
    }
}
