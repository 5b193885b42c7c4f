using System.Net;
using System.Security.Cryptography;
using System.Text;
using AccountsPortal.Features.Accounts.EmailAddresses;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Accounts.SignUp;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class SignUpTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private Task<int> CountUsersAsync() => app.WithDbAsync(db => db.Users.CountAsync());

    private Task<int> CountRecoveryKeysAsync() => app.WithDbAsync(db => db.RecoveryKeys.CountAsync());

    /// <summary>Whether <paramref name="password"/> is the password of the account with <paramref name="email"/>.</summary>
    private async Task<bool> PasswordIsAsync(string email, string password)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<Features.Accounts.PortalUser>>();
        var user = await users.FindByEmailAsync(email) ?? throw new InvalidOperationException("No such account.");
        return await users.CheckPasswordAsync(user, password);
    }

    [Fact]
    public async Task Sign_up_shows_a_24_word_recovery_key_that_matches_the_stored_hash_and_signs_in()
    {
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();

        var words = await person.SignUpAndReadRecoveryKeyAsync(email);

        Assert.Equal(24, words.Length);
        var key = RecoveryKeyCodec.Parse(string.Join(' ', words));
        Assert.True(key.Succeeded, key.Error);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var keys = scope.ServiceProvider.GetRequiredService<RecoveryKeyService>();
            Assert.True(await keys.MatchesAsync(userId, key.Key));
            Assert.False(await keys.MatchesAsync(userId, RandomNumberGenerator.GetBytes(32)));
        }

        Assert.NotNull(person.AuthCookie);
        var account = await person.Http.GetAsync("/account");
        Assert.Equal(HttpStatusCode.OK, account.StatusCode);
        Assert.Contains(email, await account.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_recovery_key_page_shows_the_key_once_and_only_to_its_account()
    {
        using var person = new PortalScenario(app);
        var (page, locations) = await person.SignUpAndFollowAsync(PortalScenario.NewEmail());
        // Signed in by the completion endpoint like every login (a new browser session), then the key page.
        Assert.Equal(2, locations.Count);
        Assert.StartsWith("/account/complete-sign-in?session=", locations[0]);
        Assert.Equal("/account/recovery-key/new", locations[1]);
        Assert.Equal(24, PortalScenario.RecoveryKeyWords(page).Length);

        var again = await (await person.Http.GetAsync("/account/recovery-key/new")).ReadHtmlAsync();

        Assert.Empty(PortalScenario.RecoveryKeyWords(again));
        Assert.Contains("Recovery key already shown", again.QuerySelector("h1")!.TextContent);
    }

    [Fact]
    public async Task The_recovery_key_is_not_stored_in_plain_text_anywhere_in_the_database()
    {
        using var person = new PortalScenario(app);
        var words = await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        var key = RecoveryKeyCodec.Parse(string.Join(' ', words)).Key!;

        // Read the database file and its write-ahead log as raw bytes: whatever is stored is in one of them.
        var stored = new List<byte>();
        foreach (var path in new[] { app.DatabasePath, app.DatabasePath + "-wal" }.Where(File.Exists))
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer);
            stored.AddRange(buffer.ToArray());
        }

        var haystack = stored.ToArray();
        Assert.True(haystack.Length > 0);
        foreach (var needle in new[]
        {
            Encoding.UTF8.GetBytes(string.Join(' ', words)),
            Encoding.UTF8.GetBytes(string.Join(' ', words.Take(3))),
            Encoding.UTF8.GetBytes(Convert.ToHexString(key)),
            Encoding.UTF8.GetBytes(Convert.ToHexStringLower(key)),
            Encoding.UTF8.GetBytes(Convert.ToBase64String(key)),
            key,
        })
        {
            Assert.Equal(-1, haystack.AsSpan().IndexOf(needle));
        }

        // The stored hash is there, which shows the scan reads what the portal wrote.
        Assert.NotEqual(-1, haystack.AsSpan().IndexOf(SHA256.HashData(key)));
    }

    [Fact]
    public async Task A_taken_address_answers_like_a_new_sign_up_and_emails_its_owner_instead()
    {
        var taken = PortalScenario.NewEmail();
        using (var first = new PortalScenario(app))
        {
            await first.SignUpAndReadRecoveryKeyAsync(taken);
        }

        var users = await CountUsersAsync();
        var keys = await CountRecoveryKeysAsync();
        var ownerId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == taken).Select(u => u.Id).SingleAsync());
        var owner = await new PasskeyBench(app).AccountSnapshotAsync(ownerId);
        using var fresh = new PortalScenario(app);
        using var second = new PortalScenario(app);
        var freshEmail = PortalScenario.NewEmail();
        const string SecondPassword = "another long passphrase 42";

        var forNew = await fresh.SignUpAsync(freshEmail, SecondPassword);
        var forTaken = await second.SignUpAsync(taken.ToUpperInvariant(), SecondPassword);

        // Same status, same place, same cookie; the pages differ only by the address typed.
        Assert.Equal(forNew.StatusCode, forTaken.StatusCode);
        Assert.Equal(forNew.LocationPath(), forTaken.LocationPath());
        Assert.Equal(CookieShape(forNew), CookieShape(forTaken));
        var newPage = await (await fresh.Http.GetAsync(forNew.LocationPath())).ReadHtmlAsync();
        var takenPage = await (await second.Http.GetAsync(forTaken.LocationPath())).ReadHtmlAsync();
        // The address is shown as typed: the stored (lower-case) spelling of the taken one would give it away.
        Assert.Equal(taken.ToUpperInvariant(), takenPage.QuerySelector("[data-testid=verify-email-address] strong")!.TextContent);
        Assert.Equal(
            newPage.Body!.TextContent.Replace(freshEmail, "ADDRESS", StringComparison.Ordinal),
            takenPage.Body!.TextContent.Replace(taken.ToUpperInvariant(), "ADDRESS", StringComparison.Ordinal));

        // Only the real owner learns of it; no code can finish it; nothing was created.
        Assert.Single(await Mailbox.MessagesToAsync(app, taken), m => m.Subject == "Someone tried to sign up with your address");
        Assert.Single(await Mailbox.MessagesToAsync(app, taken), m => m.Subject == "Verify your email address");
        for (var code = 0; code < 4; code++)
        {
            var tried = await second.EnterEmailCodeAsync(taken, $"{code:D6}");
            Assert.Equal(EmailVerifications.WrongCode, (await tried.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        }

        var last = await second.EnterEmailCodeAsync(taken, "999999");
        Assert.Equal(EmailVerifications.Expired, (await last.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Null(second.AuthCookie);
        Assert.Equal(users + 1, await CountUsersAsync());
        Assert.Equal(keys, await CountRecoveryKeysAsync());
        // Not a count that an overwrite would pass: the owner's account is as it was, password and all.
        Assert.Equal(owner, await new PasskeyBench(app).AccountSnapshotAsync(ownerId));
        Assert.True(await PasswordIsAsync(taken, PortalScenario.StrongPassword));
        Assert.False(await PasswordIsAsync(taken, SecondPassword));
    }

    private static string CookieShape(HttpResponseMessage response) =>
        string.Join('|', response.Headers.GetValues("Set-Cookie").Select(c => System.Text.RegularExpressions.Regex.Replace(c, "=[^;]*;", "=…;")).Select(c =>
            System.Text.RegularExpressions.Regex.Replace(c, "expires=[^;]*", "expires=…")));

    [Fact]
    public async Task Until_the_code_is_entered_the_account_can_neither_sign_in_nor_get_its_recovery_key()
    {
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

        Assert.Null(person.AuthCookie);
        Assert.Equal(0, await app.WithDbAsync(db => db.RecoveryKeys.CountAsync(k => k.UserId == userId)));
        Assert.False(await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.EmailConfirmed).SingleAsync()));
        // Logging in instead asks for a code again, sent to the address.
        using var later = new PortalScenario(app);
        Assert.Equal(EmailVerifications.VerifyPath, (await later.LogInAsync(email)).LocationPath());
        Assert.Null(later.AuthCookie);
        var (page, _) = await later.FollowAsync(await later.EnterEmailCodeAsync(email));
        Assert.Equal(24, PortalScenario.RecoveryKeyWords(await page.ReadHtmlAsync()).Length);
        Assert.NotNull(later.AuthCookie);
        // The first browser's code is no longer the newest: only the newest works.
        Assert.True(await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.EmailConfirmed).SingleAsync()));
    }

    [Theory]
    [InlineData("not-an-email", "correct horse battery staple", "correct horse battery staple", "Enter a valid email address.")]
    [InlineData("", "correct horse battery staple", "correct horse battery staple", "Enter your email address.")]
    [InlineData("{email}", "short", "short", "Passwords must be at least 12 characters.")]
    [InlineData("{email}", "aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "Passwords must use at least 4 different characters.")]
    [InlineData("{email}", "correct horse battery staple", "correct horse battery stable", "The passwords do not match.")]
    [InlineData("{email}", "", "", "Choose a password.")]
    public async Task Bad_input_is_refused_with_a_clear_message_and_nothing_changes(string email, string password, string confirm, string message)
    {
        var users = await CountUsersAsync();
        var keys = await CountRecoveryKeysAsync();
        using var person = new PortalScenario(app);

        var response = await person.SignUpAsync(email.Replace("{email}", PortalScenario.NewEmail()), password, confirm);

        var page = await response.ReadHtmlAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(message, page.Body!.TextContent);
        Assert.Empty(PortalScenario.RecoveryKeyWords(page));
        Assert.Null(person.AuthCookie);
        Assert.Equal(users, await CountUsersAsync());
        Assert.Equal(keys, await CountRecoveryKeysAsync());
    }

    [Fact]
    public async Task Sign_up_without_the_antiforgery_token_is_refused()
    {
        var users = await CountUsersAsync();
        using var person = new PortalScenario(app);

        var response = await person.Http.PostAsync("/signup", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "signup",
            ["Input.Email"] = PortalScenario.NewEmail(),
            ["Input.Password"] = PortalScenario.StrongPassword,
            ["Input.ConfirmPassword"] = PortalScenario.StrongPassword,
        }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(users, await CountUsersAsync());
    }

    [Fact]
    public async Task Continue_after_the_recovery_key_requires_the_confirmation()
    {
        using var person = new PortalScenario(app);
        var (page, _) = await person.SignUpAndFollowAsync(PortalScenario.NewEmail());

        var unconfirmed = await person.Http.SubmitAsync(page, "/account/recovery-key/new", "/account/recovery-key/saved", new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.BadRequest, unconfirmed.StatusCode);
        Assert.Contains("Confirm that you have saved your recovery key", await unconfirmed.Content.ReadAsStringAsync());

        var confirmed = await person.Http.SubmitAsync(page, "/account/recovery-key/new", "/account/recovery-key/saved", new Dictionary<string, string> { ["saved"] = "on" });
        Assert.Equal(HttpStatusCode.Redirect, confirmed.StatusCode);
        Assert.Equal("/account", confirmed.LocationPath());
    }
}

/// <summary>Sign-ups and logins at once, over Kestrel: SQLite's writer is never held for a password hash.</summary>
public sealed class SignUpLoadTests
{
    [Fact]
    public async Task Fifty_parallel_sign_ups_and_ten_logins_answer_no_500()
    {
        using var app = new PortalAppFactory().StartKestrel();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var people = Enumerable.Range(0, 60).Select(_ => new PortalScenario(app)).ToList();

        var responses = await Task.WhenAll(people.Select((person, i) => Task.Run(() => i < 50
            ? person.SignUpAsync(PortalScenario.NewEmail())
            : person.LogInAsync(email))));

        Assert.DoesNotContain(responses, r => (int)r.StatusCode >= 500);
        Assert.Equal(51, await app.WithDbAsync(db => db.Users.CountAsync()));
        Assert.Equal(50, await app.WithDbAsync(db => db.EmailVerifications.CountAsync()));
        people.ForEach(p => p.Dispose());
    }
}
