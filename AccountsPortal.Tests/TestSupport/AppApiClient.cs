using System.Net.Http.Json;
using System.Text.Json;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>A client app talking to the portal's JSON API, as a test drives it.</summary>
public sealed class AppApiClient(HttpClient http, string clientId = AppApiClient.ClientId) : IDisposable
{
    public const string ClientId = "test-app";
    public const string ClientName = "Test App";
    public const string HttpsRedirect = "https://app.example/callback";
    public const string CustomSchemeRedirect = "testapp://passkey";

    public HttpClient Http => http;

    /// <summary>A portal with the test app registered and API limits high enough not to get in the way.</summary>
    public static PortalAppFactory Configure(PortalAppFactory app, string? loopbackRedirect = null) => app
        .WithSetting("Apps:Clients:0:ClientId", ClientId)
        .WithSetting("Apps:Clients:0:Name", ClientName)
        .WithSetting("Apps:Clients:0:RedirectUris:0", HttpsRedirect)
        .WithSetting("Apps:Clients:0:RedirectUris:1", CustomSchemeRedirect)
        .WithSetting("Apps:Clients:0:RedirectUris:2", loopbackRedirect ?? "http://localhost:1/unused")
        .WithSetting("RateLimits:RequestsPerMinutePerIp", "100000")
        .WithSetting("RateLimits:AttemptsPerMinutePerAccount", "100000");

    public Task<HttpResponseMessage> LogInAsync(string email, string password = PortalScenario.StrongPassword, string? redirectUri = null) =>
        http.PostAsJsonAsync("/api/v1/login", new { email, password, clientId, redirectUri });

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? secret, object? body = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (secret is not null)
        {
            request.Headers.Add("X-Session-Secret", secret);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return http.SendAsync(request);
    }

    public Task<HttpResponseMessage> StatusAsync(string sessionId, string? secret) => SendAsync(HttpMethod.Get, $"/api/v1/login/{sessionId}", secret);

    public Task<HttpResponseMessage> ExchangeAsync(string sessionId, string? secret, string? code) =>
        SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/token", secret, new { code });

    public async Task<HttpResponseMessage> MeAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        request.Headers.Authorization = new("Bearer", token);
        return await http.SendAsync(request);
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>The problem's stable code, asserting that the response is RFC 7807 problem details.</summary>
    public static async Task<string?> ProblemCodeAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (await JsonAsync(response)).GetProperty("code").GetString();
    }

    public void Dispose() => http.Dispose();
}
