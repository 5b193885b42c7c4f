using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>One portal on Kestrel for the passkey sign-in tests, with the test app registered.</summary>
public sealed class PasskeySignInFixture : IDisposable
{
    public PortalAppFactory App { get; } = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();

    public void Dispose() => App.Dispose();
}

/// <summary>Signing in with a passkey alone, through the app API and the login page's endpoints (issue 13).</summary>
public sealed partial class PasskeySignInTests(PasskeySignInFixture fixture) : IClassFixture<PasskeySignInFixture>
{
    private PortalAppFactory App => fixture.App;

    private PasskeyBench Bench => new(App);

    private AppApiClient NewClient() => new(App.CreatePortalClient());

    private async Task<(string UserId, string Email, SoftwareAuthenticator Authenticator)> AccountWithPasskeyAsync()
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        return (userId, email, authenticator);
    }

    private static async Task<string> OptionsAsync(AppApiClient client, string clientId = AppApiClient.ClientId)
    {
        var response = await client.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static Task<HttpResponseMessage> SignInAsync(AppApiClient client, string answer, string clientId = AppApiClient.ClientId) =>
        client.Http.PostAsJsonAsync("/api/v1/passkey-login", new { clientId, credential = JsonDocument.Parse(answer).RootElement });

    /// <summary>Passkeys, tokens, login sessions and security events of every account, as text: what a refusal leaves as it was.</summary>
    private Task<string> StateAsync() => App.WithDbAsync(async db => JsonSerializer.Serialize(new
    {
        Passkeys = await db.Passkeys.AsNoTracking().OrderBy(p => p.Id).Select(p => new { p.Id, p.SignCount, p.LastUsedAt, p.PossiblyCloned }).ToListAsync(),
        Tokens = await db.AppTokens.AsNoTracking().OrderBy(t => t.Id).Select(t => new { t.Id, t.RevokedAt }).ToListAsync(),
        Sessions = await db.LoginSessions.AsNoTracking().CountAsync(),
        Events = await db.SecurityEvents.AsNoTracking().CountAsync(),
    }));

    private Task<int> TokensOfAsync(string userId) => App.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId));

    [Fact]
    public async Task Options_ask_for_a_discoverable_passkey_with_user_verification()
    {
        using var client = NewClient();

        using var options = JsonDocument.Parse(await OptionsAsync(client));

        Assert.Equal("localhost", options.RootElement.GetProperty("rpId").GetString());
        Assert.Equal("required", options.RootElement.GetProperty("userVerification").GetString());
        Assert.True(!options.RootElement.TryGetProperty("allowCredentials", out var allowed)
            || allowed.ValueKind == JsonValueKind.Null || allowed.GetArrayLength() == 0);
    }

    [Fact]
    public async Task An_app_signs_in_with_a_passkey_alone_and_gets_a_token_for_the_passkeys_account()
    {
        var (userId, email, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();

        var response = await SignInAsync(client, authenticator.GetAssertion(await OptionsAsync(client)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var token = (await AppApiClient.JsonAsync(response)).GetProperty("token").GetString()!;
        var me = await AppApiClient.JsonAsync(await client.MeAsync(token));
        Assert.Equal(userId, me.GetProperty("id").GetString());
        Assert.Equal(email, me.GetProperty("email").GetString());
        var passkey = Assert.Single(await Bench.PasskeysAsync(userId));
        Assert.Equal(1, passkey.SignCount);
        Assert.NotNull(passkey.LastUsedAt);
        Assert.Equal(1, await App.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.AppSignedIn)));
        authenticator.Dispose();
    }

    public static TheoryData<string> RefusedAnswers => ["no user verification", "no user handle", "user not present"];

    [Theory]
    [MemberData(nameof(RefusedAnswers))]
    public async Task An_answer_with_a_missing_proof_is_refused_and_changes_nothing_but_its_challenge(string missing)
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        var answer = authenticator.GetAssertion(await OptionsAsync(client), missing switch
        {
            "no user verification" => new AssertionOverrides { UserVerified = false },
            "no user handle" => new AssertionOverrides { OmitUserHandle = true },
            _ => new AssertionOverrides { UserPresent = false },
        });
        var before = await StateAsync();

        var response = await SignInAsync(client, answer);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(before, await StateAsync());
        Assert.Equal(0, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    [Theory]
    [InlineData("\\ud800")]
    [InlineData("http://localhost\\udc00")]
    public async Task Client_data_whose_origin_no_string_can_hold_is_a_clear_refusal_on_the_page_and_the_api(string origin)
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        using var browser = App.CreatePortalClient(new CookieContainer());
        var token = await AntiforgeryTokenAsync(browser);
        var pageOptions = await AppApiClient.JsonAsync(await PostAsync(browser, "/login/passkey/options", token, new { }));
        var before = await StateAsync();

        var api = await SignInAsync(client, WithOrigin(authenticator.GetAssertion(await OptionsAsync(client)), origin));
        var page = await PostAsync(browser, "/login/passkey", token, new
        {
            ceremonyId = pageOptions.GetProperty("ceremonyId").GetString(),
            credential = JsonDocument.Parse(WithOrigin(authenticator.GetAssertion(pageOptions.GetProperty("options").GetRawText()), origin)).RootElement,
        });

        Assert.Equal(HttpStatusCode.BadRequest, api.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(api));
        Assert.Equal(HttpStatusCode.BadRequest, page.StatusCode);
        Assert.Equal(PasskeyMessages.NotVerified, (await AppApiClient.JsonAsync(page)).GetProperty("error").GetString());
        Assert.Equal(before, await StateAsync());
        Assert.Equal(0, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    /// <summary>The answer with its client data's origin written as raw JSON text (escapes kept), the rest as signed.</summary>
    private static string WithOrigin(string answer, string rawOrigin)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(answer)!;
        var clientData = System.Text.Encoding.UTF8.GetString(
            System.Buffers.Text.Base64Url.DecodeFromChars(json["response"]!["clientDataJSON"]!.GetValue<string>()));
        clientData = OriginMember().Replace(clientData, "\"origin\":\"" + rawOrigin + "\"");
        json["response"]!["clientDataJSON"] = System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(clientData));
        return json.ToJsonString();
    }

    [GeneratedRegex("\"origin\":\"[^\"]*\"")]
    private static partial Regex OriginMember();

    [Fact]
    public async Task A_user_handle_naming_another_account_is_refused()
    {
        var (victimId, _, _) = await AccountWithPasskeyAsync();
        var (attackerId, _, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        var answer = authenticator.GetAssertion(
            await OptionsAsync(client), new AssertionOverrides { UserHandle = PasskeyRelyingParty.UserHandleOf(victimId) });
        var before = await StateAsync();

        var response = await SignInAsync(client, answer);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(before, await StateAsync());
        Assert.Equal(0, await TokensOfAsync(victimId));
        Assert.Equal(0, await TokensOfAsync(attackerId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_passkey_no_account_has_is_refused_as_unknown()
    {
        using var stranger = Bench.NewAuthenticator();
        var (otherUser, _) = await Bench.CreateAccountAsync();
        // Registered on a throwaway account, then that passkey is deleted: the authenticator still has it.
        await Bench.RegisterAsync(otherUser, stranger);
        await App.WithDbAsync(db => db.Passkeys.Where(p => p.UserId == otherUser).ExecuteDeleteAsync());
        using var client = NewClient();
        var answer = stranger.GetAssertion(await OptionsAsync(client));
        var before = await StateAsync();

        var response = await SignInAsync(client, answer);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("UNKNOWN_PASSKEY", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(before, await StateAsync());
    }

    [Fact]
    public async Task A_replayed_answer_is_refused_and_only_one_token_exists()
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        var answer = authenticator.GetAssertion(await OptionsAsync(client));
        Assert.Equal(HttpStatusCode.OK, (await SignInAsync(client, answer)).StatusCode);
        var before = await StateAsync();

        var replay = await SignInAsync(client, answer);

        Assert.Equal(HttpStatusCode.BadRequest, replay.StatusCode);
        Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(replay));
        Assert.Equal(before, await StateAsync());
        Assert.Equal(1, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_locked_account_is_refused_with_its_lockout_and_nothing_is_written()
    {
        var (userId, email, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        // Wrong passwords up to the lockout, as an attacker would.
        for (var i = 0; i < 5; i++)
        {
            await client.LogInAsync(email, "wrong password " + i);
        }

        var answer = authenticator.GetAssertion(await OptionsAsync(client));
        var before = await StateAsync();

        var response = await SignInAsync(client, answer);

        Assert.Equal((HttpStatusCode)423, response.StatusCode);
        Assert.Equal("ACCOUNT_LOCKED", await AppApiClient.ProblemCodeAsync(response));
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(before, await StateAsync());
        Assert.Equal(0, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_account_whose_address_was_never_verified_is_told_to_verify_it_first()
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        await App.WithDbAsync(db => db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(set => set.SetProperty(u => u.EmailConfirmed, false)));
        using var client = NewClient();
        var answer = authenticator.GetAssertion(await OptionsAsync(client));
        var before = await StateAsync();

        var response = await SignInAsync(client, answer);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("EMAIL_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(before, await StateAsync());
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_unknown_client_gets_no_options_and_no_token()
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        using var client = NewClient();
        var answer = authenticator.GetAssertion(await OptionsAsync(client));

        var options = await client.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = "no-such-app" });
        var signIn = await SignInAsync(client, answer, clientId: "no-such-app");

        Assert.Equal("UNKNOWN_CLIENT", await AppApiClient.ProblemCodeAsync(options));
        Assert.Equal("UNKNOWN_CLIENT", await AppApiClient.ProblemCodeAsync(signIn));
        Assert.Equal(0, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task The_portals_passkey_second_factor_challenge_cannot_be_used_to_sign_in()
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        var sessionId = await Bench.StartLoginAsync(userId);
        var secondFactorOptions = (await Bench.BeginLoginAsync(sessionId)).OptionsJson!;
        using var client = NewClient();

        var response = await SignInAsync(client, authenticator.GetAssertion(secondFactorOptions));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(0, await TokensOfAsync(userId));
        authenticator.Dispose();
    }

    [Fact]
    public async Task The_login_page_signs_a_browser_in_with_a_passkey_through_the_completion_endpoint()
    {
        var (userId, _, authenticator) = await AccountWithPasskeyAsync();
        var cookies = new CookieContainer();
        using var browser = App.CreatePortalClient(cookies);
        var token = await AntiforgeryTokenAsync(browser);

        var options = await PostAsync(browser, "/login/passkey/options", token, new { });
        Assert.Equal(HttpStatusCode.OK, options.StatusCode);
        var body = await AppApiClient.JsonAsync(options);
        var answer = authenticator.GetAssertion(body.GetProperty("options").GetRawText());
        var signIn = await PostAsync(browser, "/login/passkey", token, new
        {
            ceremonyId = body.GetProperty("ceremonyId").GetString(),
            credential = JsonDocument.Parse(answer).RootElement,
            returnUrl = "/passkeys",
        });

        Assert.Equal(HttpStatusCode.OK, signIn.StatusCode);
        var next = (await AppApiClient.JsonAsync(signIn)).GetProperty("next").GetString()!;
        Assert.StartsWith(LoginSessionService.CompletionPath, next, StringComparison.Ordinal);
        // The portal's client follows redirects: the completion endpoint signs in and sends on to the return URL.
        var completed = await browser.GetAsync(next);
        Assert.Equal(HttpStatusCode.OK, completed.StatusCode);
        Assert.Equal("/passkeys", completed.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/account")).StatusCode);
        var signedIn = await App.WithDbAsync(db => db.SecurityEvents.AsNoTracking()
            .Where(e => e.UserId == userId && e.Kind == SecurityEventKind.SignedIn).Select(e => e.Detail).ToListAsync());
        Assert.Equal(["a passkey alone (no password)"], signedIn);
        authenticator.Dispose();
    }

    [Fact]
    public async Task The_login_pages_endpoints_refuse_a_post_without_the_pages_antiforgery_token_and_store_nothing()
    {
        using var browser = App.CreatePortalClient(new CookieContainer());
        var ceremonies = await App.WithDbAsync(db => db.PasskeyCeremonies.CountAsync());

        var options = await browser.PostAsJsonAsync("/login/passkey/options", new { });
        var signIn = await browser.PostAsJsonAsync("/login/passkey", new { ceremonyId = "x", credential = new { } });

        Assert.Equal(HttpStatusCode.BadRequest, options.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, signIn.StatusCode);
        Assert.Equal("Reload the page and try again.", (await AppApiClient.JsonAsync(options)).GetProperty("error").GetString());
        Assert.Equal(ceremonies, await App.WithDbAsync(db => db.PasskeyCeremonies.CountAsync()));
    }

    [Fact]
    public async Task The_login_pages_endpoints_answer_a_wrong_content_type_and_an_oversized_body_with_their_own_status()
    {
        using var browser = App.CreatePortalClient(new CookieContainer());
        var token = await AntiforgeryTokenAsync(browser);
        var ceremonies = await App.WithDbAsync(db => db.PasskeyCeremonies.CountAsync());

        var text = new HttpRequestMessage(HttpMethod.Post, "/login/passkey") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "text/plain") };
        text.Headers.Add("RequestVerificationToken", token);
        var oversized = await PostAsync(browser, "/login/passkey", token, new { ceremonyId = new string('x', 40 * 1024), credential = new { } });

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await browser.SendAsync(text)).StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversized.StatusCode);
        Assert.Equal(ceremonies, await App.WithDbAsync(db => db.PasskeyCeremonies.CountAsync()));
    }

    [Fact]
    public async Task With_passkey_sign_in_turned_off_there_is_no_button_and_no_endpoint()
    {
        await using var off = AppApiClient.Configure(new PortalAppFactory()).WithSetting("Passkeys:PasskeySignIn", "false");
        using var client = new AppApiClient(off.CreatePortalClient());
        using var browser = off.CreatePortalClient(new CookieContainer());

        var page = await browser.GetStringAsync("/login");
        var options = await client.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = AppApiClient.ClientId });
        var signIn = await client.Http.PostAsJsonAsync("/api/v1/passkey-login", new { clientId = AppApiClient.ClientId, credential = new { } });
        var pageOptions = await browser.PostAsJsonAsync("/login/passkey/options", new { });

        Assert.DoesNotContain("Sign in with a passkey", page, StringComparison.Ordinal);
        Assert.DoesNotContain("webauthn", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, options.StatusCode);
        Assert.Equal("PASSKEY_SIGN_IN_OFF", await AppApiClient.ProblemCodeAsync(options));
        Assert.Equal(HttpStatusCode.NotFound, signIn.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, pageOptions.StatusCode);
    }

    [Fact]
    public async Task The_login_page_offers_passkey_sign_in_and_passkey_autofill_by_default()
    {
        using var browser = App.CreatePortalClient(new CookieContainer());

        var page = await browser.GetStringAsync("/login");

        Assert.Contains("Sign in with a passkey", page, StringComparison.Ordinal);
        Assert.Contains("autocomplete=\"username webauthn\"", page, StringComparison.Ordinal);
    }

    private static async Task<string> AntiforgeryTokenAsync(HttpClient browser)
    {
        var page = await browser.GetStringAsync("/login");
        return AntiforgeryInput().Match(page) is { Success: true } match
            ? WebUtility.HtmlDecode(match.Groups[1].Value)
            : throw new InvalidOperationException("The login page has no antiforgery token.");
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient browser, string path, string token, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Add("RequestVerificationToken", token);
        return browser.SendAsync(request);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryInput();
}
