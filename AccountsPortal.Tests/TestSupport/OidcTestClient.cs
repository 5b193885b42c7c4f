using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A hand-driven OpenID Connect client for protocol tests: builds authorization requests with PKCE, follows the portal's
/// redirects with a browser's cookies until the portal sends the browser to the client, and calls the token endpoint.
/// </summary>
public static class OidcTestClient
{
    public const string PublicClient = "test-spa";
    public const string ConfidentialClient = "test-server";
    public const string ConfidentialSecret = "a-confidential-secret-of-at-least-32-chars";
    public const string ThirdPartyClient = "test-third-party";
    public const string RedirectUri = "http://localhost:7891/callback";
    public const string PostLogoutUri = "http://localhost:7891/signed-out";

    /// <summary>Registers the three test clients on a portal about to start.</summary>
    public static PortalAppFactory WithOidcClients(this PortalAppFactory app) => app
        .WithSetting("Oidc:Clients:0:ClientId", PublicClient)
        .WithSetting("Oidc:Clients:0:Name", "Test SPA")
        .WithSetting("Oidc:Clients:0:FirstParty", "true")
        .WithSetting("Oidc:Clients:0:RedirectUris:0", RedirectUri)
        .WithSetting("Oidc:Clients:0:PostLogoutRedirectUris:0", PostLogoutUri)
        .WithSetting("Oidc:Clients:1:ClientId", ConfidentialClient)
        .WithSetting("Oidc:Clients:1:Name", "Test Server App")
        .WithSetting("Oidc:Clients:1:Type", "Confidential")
        .WithSetting("Oidc:Clients:1:ClientSecret", ConfidentialSecret)
        .WithSetting("Oidc:Clients:1:FirstParty", "true")
        .WithSetting("Oidc:Clients:1:RedirectUris:0", RedirectUri)
        .WithSetting("Oidc:Clients:2:ClientId", ThirdPartyClient)
        .WithSetting("Oidc:Clients:2:Name", "Someone Else's App")
        .WithSetting("Oidc:Clients:2:RedirectUris:0", RedirectUri)
        .WithSetting("Oidc:Clients:2:Scopes:0", "email");

    /// <summary>A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2).</summary>
    public static (string Verifier, string Challenge) Pkce()
    {
        var verifier = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        return (verifier, System.Buffers.Text.Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
    }

    public static string AuthorizeUrl(
        string challenge, string clientId = PublicClient, string redirectUri = RedirectUri, string scope = "openid email profile offline_access", string extra = "") =>
        $"/connect/authorize?client_id={Uri.EscapeDataString(clientId)}&redirect_uri={Uri.EscapeDataString(redirectUri)}&response_type=code"
        + $"&scope={Uri.EscapeDataString(scope)}&state=st-123&nonce=n-456&code_challenge={challenge}&code_challenge_method=S256{extra}";

    /// <summary>
    /// Follows the portal's redirects (relative, or absolute on the portal's own host and port) and returns the first
    /// Location outside the portal (the client's redirect URI), or null with the last response when the portal answered
    /// with a page or an error instead.
    /// </summary>
    public static async Task<(Uri? ClientLocation, HttpResponseMessage Last, List<string> Visited)> FollowAsync(HttpClient browser, string url)
    {
        var visited = new List<string>();
        var response = await browser.GetAsync(url);
        for (var hops = 0; hops < 10 && (int)response.StatusCode is >= 300 and < 400; hops++)
        {
            var location = response.Headers.Location!;
            var absolute = location.IsAbsoluteUri ? location : new Uri(browser.BaseAddress!, location);
            if (absolute.Authority != browser.BaseAddress!.Authority)
            {
                return (absolute, response, visited);
            }

            visited.Add(absolute.PathAndQuery);
            response = await browser.GetAsync(absolute.PathAndQuery);
        }

        return (null, response, visited);
    }

    /// <summary>A query parameter of a URI, or null.</summary>
    public static string? Query(Uri uri, string name) =>
        System.Web.HttpUtility.ParseQueryString(uri.Query)[name];

    public static Task<HttpResponseMessage> RedeemAsync(HttpClient http, string code, string verifier, string clientId = PublicClient, string? secret = null, string redirectUri = RedirectUri) =>
        http.PostAsync("/connect/token", new FormUrlEncodedContent(Form(
            ("grant_type", "authorization_code"), ("code", code), ("code_verifier", verifier), ("redirect_uri", redirectUri), ("client_id", clientId), ("client_secret", secret))));

    public static Task<HttpResponseMessage> RefreshAsync(HttpClient http, string refreshToken, string clientId = PublicClient, string? secret = null) =>
        http.PostAsync("/connect/token", new FormUrlEncodedContent(Form(
            ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", clientId), ("client_secret", secret))));

    public static async Task<HttpResponseMessage> UserInfoAsync(HttpClient http, string accessToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/connect/userinfo");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        return await http.SendAsync(request);
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>The payload of a JWT (signature not checked here: the browser test's client library checks it).</summary>
    public static JsonElement Payload(string jwt) =>
        JsonDocument.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(jwt.Split('.')[1])).RootElement.Clone();

    /// <summary>Asserts an OAuth error response (RFC 6749 §5.2) and returns its error code.</summary>
    public static async Task<string> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode is HttpStatusCode.Unauthorized ? HttpStatusCode.BadRequest : response.StatusCode);
        return (await JsonAsync(response)).GetProperty("error").GetString()!;
    }

    private static IEnumerable<KeyValuePair<string, string>> Form(params (string Key, string? Value)[] fields) =>
        fields.Where(f => f.Value is not null).Select(f => KeyValuePair.Create(f.Key, f.Value!));
}
