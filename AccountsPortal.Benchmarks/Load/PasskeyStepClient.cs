using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>One passkey step as it ended: when (Stopwatch timestamps) and, for a failed one, what went wrong.</summary>
/// <param name="Started">Before the options request was sent.</param>
/// <param name="Ended">After the verify response was read (or the failure).</param>
/// <param name="Error">Null for a verified step; otherwise "options 503 BUSY", "verify 400 PASSKEY_NOT_VERIFIED", ….</param>
public readonly record struct StepSample(long Started, long Ended, string? Error);

/// <summary>
/// The passkey step of an app login over HTTP, as an app that calls the platform's passkey API does it:
/// <c>POST /api/v1/login/{id}/passkey/options</c>, the authenticator signs, <c>POST /api/v1/login/{id}/passkey</c>.
/// Verified means 200 with a token.
/// </summary>
public sealed class PasskeyStepClient(HttpClient optionsNode, HttpClient verifyNode)
{
    private const string SecretHeader = "X-Session-Secret";

    /// <summary>An HTTP client for one node: no cookies, no redirects, a connection per concurrent request, kept.</summary>
    public static HttpClient CreateHttpClient(Uri node) => new(new SocketsHttpHandler
    {
        UseCookies = false,
        AllowAutoRedirect = false,
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    })
    {
        BaseAddress = node,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Runs one step for <paramref name="login"/>.</summary>
    public async Task<StepSample> RunAsync(SeededLogin login)
    {
        ArgumentNullException.ThrowIfNull(login);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var error = await StepAsync(login);
        return new StepSample(started, System.Diagnostics.Stopwatch.GetTimestamp(), error);
    }

    private async Task<string?> StepAsync(SeededLogin login)
    {
        var path = $"/api/v1/login/{Uri.EscapeDataString(login.SessionId)}/passkey";
        string optionsJson;
        try
        {
            using var optionsRequest = new HttpRequestMessage(HttpMethod.Post, path + "/options");
            optionsRequest.Headers.Add(SecretHeader, login.Secret);
            using var options = await optionsNode.SendAsync(optionsRequest);
            optionsJson = await options.Content.ReadAsStringAsync();
            if (options.StatusCode != HttpStatusCode.OK)
            {
                return Describe("options", options.StatusCode, optionsJson);
            }
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return "options " + exception.GetType().Name;
        }

        var credentialJson = login.User.Authenticator.GetAssertion(optionsJson);
        try
        {
            using var verifyRequest = new HttpRequestMessage(HttpMethod.Post, path);
            verifyRequest.Headers.Add(SecretHeader, login.Secret);
            verifyRequest.Content = new StringContent("{\"credential\":" + credentialJson + "}", Encoding.UTF8, "application/json");
            using var verify = await verifyNode.SendAsync(verifyRequest);
            var body = await verify.Content.ReadAsStringAsync();
            if (verify.StatusCode != HttpStatusCode.OK)
            {
                return Describe("verify", verify.StatusCode, body);
            }

            return HasToken(body) ? null : "verify 200 without a token";
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return "verify " + exception.GetType().Name;
        }
    }

    private static bool HasToken(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("token", out var token) && token.ValueKind == JsonValueKind.String;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>"verify 503 BUSY": the request, the status and the problem's stable code when there is one.</summary>
    private static string Describe(string request, HttpStatusCode status, string body)
    {
        var code = "";
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("code", out var value))
            {
                code = " " + value.GetString();
            }
        }
        catch (JsonException)
        {
            // Not problem details.
        }

        return string.Create(CultureInfo.InvariantCulture, $"{request} {(int)status}{code}");
    }
}
