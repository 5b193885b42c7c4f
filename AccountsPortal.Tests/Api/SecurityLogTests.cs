using System.Net;
using System.Text.Json;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Activity;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// What the portal writes to its log: stable event ids on every message of its own, no secret a journey used, and
/// user text that cannot start a line of its own.
/// </summary>
public sealed class SecurityLogTests
{
    [Fact]
    public async Task A_full_journey_logs_none_of_the_secrets_it_used_even_at_debug_level()
    {
        // Every category at Debug: more than an operator's log would hold.
        using var app = AppApiClient.Configure(new PortalAppFactory())
            .WithSetting("Logging:LogLevel:Default", "Debug")
            .WithSetting("Logging:LogLevel:Microsoft.AspNetCore", "Debug")
            .WithSetting("Logging:LogLevel:Microsoft.EntityFrameworkCore", "Debug");
        var secrets = new List<(string What, string Value)>();
        var recoveryPhrases = new List<string[]>();
        var bench = new PasskeyBench(app);

        // Sign-up: password, the emailed code, the recovery key, the browser's session.
        var email = PortalScenario.NewEmail();
        using var person = new PortalScenario(app);
        var words = await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        secrets.Add(("password", PortalScenario.StrongPassword));
        secrets.Add(("email code", await Mailbox.LatestCodeAsync(app, email)));
        AddRecoveryKey(secrets, recoveryPhrases, words);
        AddBrowserSession(app, secrets, person);

        // A passkey: the registration challenge.
        using var authenticator = bench.NewAuthenticator();
        var registration = await bench.BeginRegistrationAsync(userId);
        secrets.Add(("registration challenge", Challenge(registration.OptionsJson!)));
        var added = await bench.CompleteRegistrationAsync(userId, registration.CeremonyId!, "Laptop", authenticator.CreateCredential(registration.OptionsJson!));
        Assert.True(added.Succeeded, added.Error);

        // An app hands its user over: session secret, assertion challenge, one-time code, token.
        using var client = new AppApiClient(app.CreatePortalClient());
        var pending = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
        var appSession = pending.GetProperty("sessionId").GetString()!;
        var appSecret = pending.GetProperty("sessionSecret").GetString()!;
        secrets.Add(("app session secret", appSecret));
        var options = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{appSession}/passkey/options", appSecret)).Content.ReadAsStringAsync();
        secrets.Add(("assertion challenge", Challenge(options)));
        var verified = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{appSession}/passkey", appSecret,
            new { credential = JsonDocument.Parse(authenticator.GetAssertion(options)).RootElement });
        Assert.True(verified.IsSuccessStatusCode, await verified.Content.ReadAsStringAsync());
        secrets.Add(("app token (passkey in the app)", (await AppApiClient.JsonAsync(verified)).GetProperty("token").GetString()!));

        // The same through a browser: the passkey verified on the portal, then the redirect's one-time code.
        var handedOff = await AppApiClient.JsonAsync(await client.LogInAsync(email, redirectUri: AppApiClient.HttpsRedirect));
        var handOffSession = handedOff.GetProperty("sessionId").GetString()!;
        var handOffSecret = handedOff.GetProperty("sessionSecret").GetString()!;
        secrets.Add(("app session secret (hand-off)", handOffSecret));
        bench.Hold(handOffSession, handOffSecret);
        Assert.True((await bench.LogInAsync(handOffSession, authenticator)).Succeeded);
        var returned = await client.Http.GetAsync($"/apps/return?session={handOffSession}&client_id={AppApiClient.ClientId}&redirect_uri={Uri.EscapeDataString(AppApiClient.HttpsRedirect)}");
        var code = System.Web.HttpUtility.ParseQueryString(returned.Headers.Location!.Query)["code"]!;
        secrets.Add(("app code", code));
        var exchanged = await client.ExchangeAsync(handOffSession, handOffSecret, code);
        secrets.Add(("app token (hand-off)", (await AppApiClient.JsonAsync(exchanged)).GetProperty("token").GetString()!));

        // TOTP on a second account: its secret and the codes used to turn it on and to log in.
        var totp = new TotpBench(app);
        var (totpUserId, totpEmail) = await bench.CreateAccountAsync();
        var totpSecret = await totp.EnableAsync(totpUserId);
        secrets.Add(("totp secret (base32)", OtpNet.Base32Encoding.ToString(totpSecret)));
        secrets.Add(("totp secret (hex)", Convert.ToHexString(totpSecret)));
        secrets.Add(("totp code (enable)", totp.CodeAt(totpSecret, TimeSpan.Zero)));
        app.Time.Advance(TimeSpan.FromSeconds(30));
        var totpLogin = await AppApiClient.JsonAsync(await client.LogInAsync(totpEmail));
        var totpCode = totp.CodeAt(totpSecret, TimeSpan.Zero);
        secrets.Add(("totp code (login)", totpCode));
        secrets.Add(("app session secret (totp)", totpLogin.GetProperty("sessionSecret").GetString()!));
        var totpToken = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{totpLogin.GetProperty("sessionId").GetString()}/totp",
            totpLogin.GetProperty("sessionSecret").GetString(), new { code = totpCode });
        secrets.Add(("app token (totp)", (await AppApiClient.JsonAsync(totpToken)).GetProperty("token").GetString()!));

        // Recovery in a new browser with the first account's key: the pending login's secret and the new key.
        using var recovering = new PortalScenario(app);
        var recoverPath = (await recovering.LogInAsync(email)).LocationPath().Replace("/passkeys/verify", "/two-factor/recover");
        secrets.Add(("pending login secret", recovering.PendingLoginSecret!));
        var (shown, _) = await recovering.FollowAsync(await recovering.Http.SubmitAsync(recoverPath, "recover", new Dictionary<string, string>
        {
            ["Input.RecoveryKey"] = string.Join(' ', words),
        }));
        var newWords = PortalScenario.RecoveryKeyWords(await shown.ReadHtmlAsync());
        Assert.Equal(24, newWords.Length);
        AddRecoveryKey(secrets, recoveryPhrases, newWords);
        AddBrowserSession(app, secrets, recovering);

        var logs = app.Logs.Entries;
        Assert.True(logs.Count > 200, $"only {logs.Count} entries: the journey's logs were not captured");
        var text = string.Join('\n', logs.Select(entry => entry.Message + "\n" + entry.Exception));
        foreach (var (what, value) in secrets)
        {
            Assert.True(value.Length >= 6, $"{what} is too short to look for");
            Assert.False(text.Contains(value, StringComparison.OrdinalIgnoreCase), $"The log holds the {what}.");
        }

        foreach (var phrase in recoveryPhrases)
        {
            for (var i = 0; i + 3 <= phrase.Length; i++)
            {
                var run = string.Join(' ', phrase[i..(i + 3)]);
                Assert.False(text.Contains(run, StringComparison.OrdinalIgnoreCase), $"The log holds three recovery key words in a row: {run}");
            }
        }
    }

    [Fact]
    public async Task Every_message_the_portal_writes_has_a_stable_event_id_and_security_events_carry_their_kind()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory());
        using (var person = new PortalScenario(app))
        {
            await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        }

        var (userId, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        await client.LogInAsync(email, "not the password at all");
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);

        var own = app.Logs.Entries.Where(entry => entry.Category.StartsWith("AccountsPortal", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(own);
        Assert.All(own, entry => Assert.True(entry.EventId.Id > 1000 && !string.IsNullOrEmpty(entry.EventId.Name), $"no event id: {entry.Category}: {entry.Message}"));

        // Each security event as its kind's id (1100 + its number), at the level its kind deserves.
        var rejected = Assert.Single(own, entry => entry.EventId.Id == SecurityLog.SecurityEventBase + (int)SecurityEventKind.PasswordRejected && entry.Message.Contains(userId));
        Assert.Equal(nameof(SecurityEventKind.PasswordRejected), rejected.EventId.Name);
        Assert.Equal(LogLevel.Information, rejected.Level);
        Assert.Contains(own, entry => entry.EventId == new EventId(1125, nameof(SecurityEventKind.EmailVerified)));
        Assert.Contains(own, entry => entry.EventId == new EventId(1001, "SignUpStarted"));
        Assert.Contains(own, entry => entry.EventId == new EventId(1014, "AppTokenIssued"));
    }

    [Fact]
    public async Task Text_with_line_breaks_bidi_overrides_or_control_characters_cannot_start_a_forged_log_line()
    {
        using var app = new PortalAppFactory();
        var userId = await new PasskeyBench(app).CreateUserAsync();
        const string forged = "Laptop\r\ninfo: AccountsPortal[1026] Passkey 1 verified for admin\u2028\u202Egnp.exe\u0000\u001B[31m";

        await app.WithScope(s => s.GetRequiredService<SecurityEvents>().RecordAsync(userId, SecurityEventKind.PasskeyRenamed, forged));

        var entry = Assert.Single(app.Logs.Entries, e => e.EventId.Id == SecurityLog.SecurityEventBase + (int)SecurityEventKind.PasskeyRenamed);
        Assert.DoesNotContain('\r', entry.Message);
        Assert.DoesNotContain('\n', entry.Message);
        Assert.DoesNotContain('\u2028', entry.Message);
        Assert.DoesNotContain('\u202E', entry.Message);
        Assert.DoesNotContain('\0', entry.Message);
        Assert.DoesNotContain('\u001B', entry.Message);
        Assert.EndsWith(@"Laptop\u000D\u000Ainfo: AccountsPortal[1026] Passkey 1 verified for admin\u2028\u202Egnp.exe\u0000\u001B[31m", entry.Message);
    }

    [Theory]
    [InlineData(null, "-")]
    [InlineData("plain text, kept", "plain text, kept")]
    [InlineData("a\tb", @"a\u0009b")]
    [InlineData("\u2066isolate\u2069", @"\u2066isolate\u2069")]
    [InlineData("\u0085next line", @"\u0085next line")]
    public void LogText_writes_invisible_characters_as_escapes(string? input, string expected) =>
        Assert.Equal(expected, LogText.Encode(input));

    [Fact]
    public void LogText_cuts_long_text_with_an_ellipsis()
    {
        var encoded = LogText.Encode(new string('x', LogText.MaxLength + 50));

        Assert.Equal(new string('x', LogText.MaxLength) + "…", encoded);
    }

    private static void AddRecoveryKey(List<(string, string)> secrets, List<string[]> phrases, string[] words)
    {
        var key = RecoveryKeyCodec.Parse(string.Join(' ', words)).Key!;
        secrets.Add(("recovery key (hex)", Convert.ToHexString(key)));
        secrets.Add(("recovery key (base64)", Convert.ToBase64String(key)));
        secrets.Add(("recovery key (words)", string.Join(' ', words)));
        phrases.Add(words);
    }

    /// <summary>The sign-in cookie as sent, and the session key inside it.</summary>
    private static void AddBrowserSession(PortalAppFactory app, List<(string, string)> secrets, PortalScenario person)
    {
        var cookie = person.AuthCookie!;
        secrets.Add(("sign-in cookie", cookie));
        var ticket = app.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>()
            .Get(IdentityConstants.ApplicationScheme).TicketDataFormat.Unprotect(cookie)!;
        secrets.Add(("browser session key", ticket.Principal.FindFirst("Microsoft.AspNetCore.Authentication.Cookies-SessionId")!.Value));
    }

    private static string Challenge(string optionsJson) => JsonDocument.Parse(optionsJson).RootElement.GetProperty("challenge").GetString()!;
}
