using System.Net;
using System.Text;
using System.Text.Json;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// One real portal on Kestrel per attack class (its own SQLite file and clock), with the test app registered. The
/// background email sender is off, so that nothing but the requests under test writes to the database; reading the
/// mailbox sends what is due.
/// </summary>
public sealed class AttackPortal : IDisposable
{
    public AttackPortal()
        : this(app => app)
    {
    }

    private AttackPortal(Func<PortalAppFactory, PortalAppFactory> configure)
    {
        App = configure(AppApiClient.Configure(new PortalAppFactory()).WithSetting("Email:WorkerEnabled", "false")).StartKestrel();
    }

    public PortalAppFactory App { get; }

    /// <summary>A portal of its own with settings of its own, for the attacks that need another configuration.</summary>
    public static AttackPortal With(Func<PortalAppFactory, PortalAppFactory> configure) => new(configure);

    public PasskeyBench Passkeys => new(App);

    public TotpBench Totp => new(App);

    public AppApiClient NewApiClient() => new(App.CreatePortalClient());

    public Task<DatabaseState> SnapshotAsync() => DatabaseState.CaptureAsync(App);

    /// <summary>An account with one passkey (registered from a browser that signed in just now).</summary>
    public async Task<(string UserId, string Email, SoftwareAuthenticator Authenticator)> AccountWithPasskeyAsync(bool synced = false, bool counts = true)
    {
        var bench = Passkeys;
        var (userId, email) = await bench.CreateAccountAsync();
        var authenticator = bench.NewAuthenticator();
        authenticator.Synced = synced;
        authenticator.CountsSignatures = counts;
        await bench.RegisterAsync(userId, authenticator);
        return (userId, email, authenticator);
    }

    /// <summary>An app's login through the API for an account with a passkey, waiting for it.</summary>
    public async Task<ApiLogin> ApiPasskeyLoginAsync(bool synced = false, bool counts = true)
    {
        var (userId, email, authenticator) = await AccountWithPasskeyAsync(synced, counts);
        return await ApiLoginAsync(userId, email, authenticator);
    }

    /// <summary>An app's login through the API for an existing account (password step passed).</summary>
    public async Task<ApiLogin> ApiLoginAsync(string userId, string email, SoftwareAuthenticator? authenticator = null)
    {
        var client = NewApiClient();
        var response = await client.LogInAsync(email);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await AppApiClient.JsonAsync(response);
        return new ApiLogin(userId, email, client, authenticator, body.GetProperty("sessionId").GetString()!, body.GetProperty("sessionSecret").GetString()!);
    }

    /// <summary>Finishes a registration the way the passkeys page does, from an existing browser session.</summary>
    public Task<PasskeyOutcome> CompleteRegistrationAsync(string userId, string ceremonyId, string? name, string? credentialJson, string browserSessionId) =>
        Passkeys.WithAsync(s => s.GetRequiredService<PasskeyRegistration>().CompleteAsync(userId, ceremonyId, name, credentialJson, browserSessionId));

    /// <summary>Asserts an RFC 7807 problem with this status, stable code and (when given) title; never a 5xx.</summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? title = null)
    {
        Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(code, await AppApiClient.ProblemCodeAsync(response));
        if (title is not null)
        {
            Assert.Equal(title, (await AppApiClient.JsonAsync(response)).GetProperty("title").GetString());
        }
    }

    public void Dispose() => App.Dispose();
}

/// <summary>
/// A browser without JavaScript on the Kestrel portal: its own cookies, and every redirect shown to the test
/// (it never follows one by itself), so that a Location header can be checked before anything acts on it.
/// </summary>
public sealed class Browser : IDisposable
{
    public Browser(PortalAppFactory app)
    {
        Origin = app.ServerAddress ?? throw new InvalidOperationException("The attack portal runs on Kestrel.");
        Http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = Cookies, UseCookies = true }) { BaseAddress = Origin };
    }

    public CookieContainer Cookies { get; } = new();

    public HttpClient Http { get; }

    public Uri Origin { get; }

    public string? PendingLoginSecret => Cookies.Cookie(Origin, Features.Accounts.LoginSessions.PendingLoginCookie.Name);

    public string? AuthCookie => Cookies.Cookie(Origin, Features.Accounts.LoginSessions.LoginCompletion.AuthCookieName);

    /// <summary>The password step at /login: the redirect it answers with (a verify page, or the completion link).</summary>
    public Task<HttpResponseMessage> LogInAsync(string email, string password = PortalScenario.StrongPassword, string? returnUrl = null) =>
        Http.SubmitAsync(
            returnUrl is null ? "/login" : $"/login?returnUrl={Uri.EscapeDataString(returnUrl)}",
            "login",
            new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = password });

    /// <summary>Follows redirects by hand, returning every location visited.</summary>
    public async Task<(HttpResponseMessage Final, List<string> Locations)> FollowAsync(HttpResponseMessage response)
    {
        var locations = new List<string>();
        while (response.IsRedirect())
        {
            var location = response.LocationPath();
            locations.Add(location);
            response = await Http.GetAsync(location);
        }

        return (response, locations);
    }

    /// <summary>Logs in to an account without a second factor and follows through the completion link.</summary>
    public async Task SignInAsync(string email)
    {
        var (final, _) = await FollowAsync(await LogInAsync(email));
        Assert.Equal(HttpStatusCode.OK, final.StatusCode);
        Assert.NotNull(AuthCookie);
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>An app's login through the API, with what the app holds: the session id and its secret.</summary>
public sealed record ApiLogin(string UserId, string Email, AppApiClient Client, SoftwareAuthenticator? Authenticator, string SessionId, string Secret) : IDisposable
{
    public SoftwareAuthenticator Own => Authenticator ?? throw new InvalidOperationException("This account has no passkey.");

    /// <summary>The assertion options for this login, as the app gets them.</summary>
    public async Task<string> OptionsAsync()
    {
        var response = await Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/passkey/options", Secret);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>Sends <paramref name="credentialJson"/> as the passkey answer (the body <c>{"credential": ...}</c>).</summary>
    public Task<HttpResponseMessage> AnswerAsync(string credentialJson) =>
        Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/passkey", Secret, new { credential = JsonDocument.Parse(credentialJson).RootElement });

    /// <summary>Sends exactly <paramref name="body"/> to the passkey endpoint, as JSON.</summary>
    public Task<HttpResponseMessage> PostRawAsync(string path, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/login/{SessionId}/{path}") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Session-Secret", Secret);
        return Client.Http.SendAsync(request);
    }

    public Task<HttpResponseMessage> PostRawAsync(string path, string body) => PostRawAsync(path, Encoding.UTF8.GetBytes(body));

    public Task<HttpResponseMessage> TotpAsync(string code) =>
        Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/totp", Secret, new { code });

    public void Dispose()
    {
        Client.Dispose();
        Authenticator?.Dispose();
    }
}
