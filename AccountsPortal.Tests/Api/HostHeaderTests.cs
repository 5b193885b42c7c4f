using System.Net;
using System.Text.Json;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// A portal on Kestrel whose operator lets it answer a second host name (<c>AllowedHosts</c>) behind a trusted
/// proxy (<c>ReverseProxy:Enabled</c>, loopback): requests naming another host get past host filtering, which
/// is when taking the RP ID or links from the Host header would show.
/// </summary>
public sealed class SecondHostFixture : IDisposable
{
    public const string OtherHost = "evil.example";

    public PortalAppFactory App { get; } = AppApiClient.Configure(new PortalAppFactory())
        .WithSetting("AllowedHosts", $"localhost;{OtherHost}")
        .WithSetting("ReverseProxy:Enabled", "true")
        .StartKestrel();

    public void Dispose() => App.Dispose();
}

/// <summary>
/// The relying party id, the verify link and the origins a passkey may come from are configuration, never the
/// request's Host or X-Forwarded-Host: shown over HTTP on the app API, where an app's login and passkey step run.
/// </summary>
public sealed class HostHeaderTests(SecondHostFixture fixture) : IClassFixture<SecondHostFixture>
{
    private PortalAppFactory App => fixture.App;

    private PasskeyBench Bench => new(App);

    public static TheoryData<string?, string?> Headers => new()
    {
        { SecondHostFixture.OtherHost, null },
        { null, SecondHostFixture.OtherHost },
        { SecondHostFixture.OtherHost, SecondHostFixture.OtherHost },
    };

    /// <summary>A client of the app API whose every request names <paramref name="host"/> and carries <paramref name="forwardedHost"/>.</summary>
    private AppApiClient Client(string? host, string? forwardedHost) =>
        new(new HttpClient(new NamingHost(host, forwardedHost) { InnerHandler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false } })
        {
            BaseAddress = App.ServerAddress,
        });

    [Theory]
    [MemberData(nameof(Headers))]
    public async Task Host_and_forwarded_host_never_become_the_rp_id_the_verify_url_or_an_accepted_origin(string? host, string? forwardedHost)
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        using var authenticator = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, authenticator);
        using var client = Client(host, forwardedHost);

        var login = await client.LogInAsync(email);

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var body = await AppApiClient.JsonAsync(login);
        var sessionId = body.GetProperty("sessionId").GetString()!;
        var secret = body.GetProperty("sessionSecret").GetString()!;
        Assert.StartsWith($"{App.Origin}/passkeys/verify?session=", body.GetProperty("verifyUrl").GetString());
        Assert.DoesNotContain(SecondHostFixture.OtherHost, body.GetRawText());

        var options = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret);
        Assert.Equal(HttpStatusCode.OK, options.StatusCode);
        var optionsJson = await options.Content.ReadAsStringAsync();
        Assert.Equal("localhost", JsonDocument.Parse(optionsJson).RootElement.GetProperty("rpId").GetString());

        // An authenticator asked by a page on the other host answers for that origin (and, there, that RP ID): refused.
        foreach (var answerFromThere in new[]
        {
            new AssertionOverrides { Origin = $"http://{SecondHostFixture.OtherHost}", RpId = SecondHostFixture.OtherHost },
            new AssertionOverrides { Origin = $"http://{SecondHostFixture.OtherHost}" },
            new AssertionOverrides { Origin = $"{App.ServerAddress!.Scheme}://{SecondHostFixture.OtherHost}:{App.ServerAddress.Port}" },
        })
        {
            var before = await Bench.AllPasskeysSnapshotAsync() + await Bench.SessionSnapshotAsync(sessionId);
            var fresh = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();

            var refused = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
                new { credential = JsonDocument.Parse(authenticator.GetAssertion(fresh, answerFromThere)).RootElement });

            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("PASSKEY_NOT_VERIFIED", await AppApiClient.ProblemCodeAsync(refused));
            Assert.Equal(PasskeyMessages.WrongOrigin, (await AppApiClient.JsonAsync(refused)).GetProperty("title").GetString());
            Assert.Equal(before, await Bench.AllPasskeysSnapshotAsync() + await Bench.SessionSnapshotAsync(sessionId));
            Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await Bench.SessionAsync(sessionId)).State);
        }

        Assert.Equal(0, await App.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
        // The same request, answered for the configured origin, goes through: the refusals were the origin's.
        var rightOptions = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
        var verified = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = JsonDocument.Parse(authenticator.GetAssertion(rightOptions)).RootElement });
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
    }

    [Fact]
    public async Task Without_the_host_in_allowed_hosts_the_request_is_refused_and_starts_nothing()
    {
        using var app = AppApiClient.Configure(new PortalAppFactory()).StartKestrel();
        var bench = new PasskeyBench(app);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        using var client = new AppApiClient(new HttpClient(new NamingHost(SecondHostFixture.OtherHost, null) { InnerHandler = new SocketsHttpHandler() })
        {
            BaseAddress = app.ServerAddress,
        });

        var login = await client.LogInAsync(email);

        Assert.Equal(HttpStatusCode.BadRequest, login.StatusCode);
        Assert.Equal(0, await app.WithDbAsync(db => db.LoginSessions.CountAsync(s => s.UserId == userId)));
    }

    /// <summary>Names a host on every request, as a client (or a proxy in front of the portal) might.</summary>
    private sealed class NamingHost(string? host, string? forwardedHost) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (host is not null)
            {
                request.Headers.Host = host;
            }

            if (forwardedHost is not null)
            {
                request.Headers.Add("X-Forwarded-Host", forwardedHost);
                request.Headers.Add("X-Forwarded-Proto", "http");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
