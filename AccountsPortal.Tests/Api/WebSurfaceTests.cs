using System.Net;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Tests.Api;

/// <summary>What the portal answers to and what browsers may keep, over HTTP.</summary>
public sealed class WebSurfaceTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    [Theory]
    [InlineData("evil.example")]
    [InlineData("localhost.evil.example")]
    public async Task A_host_that_is_not_a_configured_origin_is_refused(string host)
    {
        using var client = app.CreatePortalClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/login");
        request.Headers.Host = host;

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/login")).StatusCode);
    }

    [Theory]
    [InlineData("https://evil.example", HttpStatusCode.Forbidden)]
    [InlineData("http://sub.localhost", HttpStatusCode.Forbidden)]
    [InlineData("http://localhost", HttpStatusCode.OK)]
    public async Task The_blazor_hub_refuses_a_browser_from_another_origin(string origin, HttpStatusCode expected)
    {
        using var client = app.CreatePortalClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_blazor/negotiate?negotiateVersion=1");
        request.Headers.Add("Origin", origin);

        var response = await client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Pages_and_api_answers_are_never_cached_but_static_assets_are()
    {
        using var person = new PortalScenario(app);
        var (_, locations) = await person.SignUpAndFollowAsync(PortalScenario.NewEmail());
        Assert.Contains("/account/recovery-key/new", locations);
        using var client = app.CreatePortalClient();

        var login = await client.GetAsync("/login");
        var api = await client.PostAsync("/api/v1/login", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        var css = await client.GetAsync("/app.css");

        Assert.True(login.Headers.CacheControl?.NoStore);
        Assert.True(api.Headers.CacheControl?.NoStore);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.NotEqual(true, css.Headers.CacheControl?.NoStore);
        // The page that shows a new recovery key, as the browser that signed up gets it.
        using var again = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await again.SignUpAsync(email);
        var keyPage = await again.EnterEmailCodeAsync(email);
        while (keyPage.IsRedirect())
        {
            keyPage = await again.Http.GetAsync(keyPage.LocationPath());
        }

        Assert.Equal(24, PortalScenario.RecoveryKeyWords(await keyPage.ReadHtmlAsync()).Length);
        Assert.True(keyPage.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task Https_responses_carry_hsts_and_plain_http_on_localhost_keeps_working()
    {
        using var secure = new PortalAppFactory().WithSetting("Passkeys:Origins:0", "https://accounts.example");
        using var client = secure.CreateDefaultClient(new Uri("https://accounts.example"));

        var response = await client.GetAsync("/login");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("max-age=31536000", response.Headers.GetValues("Strict-Transport-Security").Single());
        var plain = await app.CreatePortalClient().GetAsync("/login");
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.False(plain.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task Under_https_the_sign_in_and_pending_login_cookies_are_host_prefixed_secure_and_http_only()
    {
        using var secure = new PortalAppFactory().WithSetting("Passkeys:Origins:0", "https://accounts.example");
        var (_, email) = await new PasskeyBench(secure).CreateAccountAsync();
        var cookies = new System.Net.CookieContainer();
        using var client = secure.CreateDefaultClient(new Uri("https://accounts.example"), new Microsoft.AspNetCore.Mvc.Testing.Handlers.CookieContainerHandler(cookies));
        var loginPage = await client.GetAsync("/login");

        var passwordStep = await client.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = PortalScenario.StrongPassword,
        });
        var completed = await client.GetAsync(passwordStep.LocationPath());

        var antiforgery = Assert.Single(loginPage.Headers.GetValues("Set-Cookie"), c => c.StartsWith(".AspNetCore.Antiforgery", StringComparison.Ordinal));
        Assert.Contains("; secure", antiforgery, StringComparison.OrdinalIgnoreCase);
        foreach (var (response, name) in new[] { (passwordStep, "__Host-AccountsPortal.PendingLogin="), (completed, "__Host-AccountsPortal.Auth=") })
        {
            var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(name, StringComparison.Ordinal));
            Assert.Contains("; secure", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("; httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("; path=/", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("; samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("domain=", cookie, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/account")).StatusCode);
        // On plain http (localhost), the same cookies keep their plain names.
        using var person = new PortalScenario(app);
        var (_, plainEmail) = await new PasskeyBench(app).CreateAccountAsync();
        var plain = await person.LogInAsync(plainEmail);
        Assert.Contains(plain.Headers.GetValues("Set-Cookie"), c => c.StartsWith("AccountsPortal.PendingLogin=", StringComparison.Ordinal));
    }
}
