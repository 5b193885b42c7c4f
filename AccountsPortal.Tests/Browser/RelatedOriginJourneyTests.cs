using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.Browser;

/// <summary>
/// A portal whose RP ID (<see cref="RpId"/>) is served over https on port 443 by a TLS proxy that forwards
/// <c>/.well-known/webauthn</c> to the portal, as an operator's front end would, and a site on another registrable domain
/// (<see cref="RelatedHost"/>, listed in <c>Passkeys:RelatedOrigins</c>; <see cref="UnrelatedHost"/>, not listed), served
/// over https by the same test server. Chromium maps the names to 127.0.0.1 (<c>--host-resolver-rules</c>) and trusts
/// the test certificate by its key (<c>--ignore-certificate-errors-spki-list</c>), so that neither its fetch of the
/// well-known document nor the pages have a certificate error. Port 443 is the machine's: one such fixture at a time.
/// </summary>
public sealed class RelatedOriginBench : IAsyncLifetime
{
    public const string RpId = "accounts.example.com";

    public const string RelatedHost = "shop.example.org";

    public const string UnrelatedHost = "elsewhere.example.net";

    private readonly LoopbackPort sitePort = LoopbackPort.Reserve();
    private readonly X509Certificate2 certificate = CreateCertificate();
    private readonly HttpClient proxyClient = new();
    private WebApplication? server;
    private int documentRequests;
    private IPlaywright? playwright;
    private IBrowser? browser;

    public RelatedOriginBench()
    {
        App = AppApiClient.Configure(PortalAppFactory.WithSystemClock())
            .WithSetting("Passkeys:RelyingPartyId", RpId)
            .WithSetting("Passkeys:RelatedOrigins:0", RelatedOrigin);
    }

    public PortalAppFactory App { get; }

    /// <summary>How many times the well-known document was asked for on the RP ID's host (by Chromium: nothing else asks).</summary>
    public int DocumentRequests => Volatile.Read(ref documentRequests);

    public string RelatedOrigin => $"https://{RelatedHost}:{sitePort.Port}";

    public string UnrelatedOrigin => $"https://{UnrelatedHost}:{sitePort.Port}";

    public async Task InitializeAsync()
    {
        App.StartKestrel();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 443, listen => listen.UseHttps(certificate));
            foreach (var handle in sitePort.DuplicateHandles())
            {
                kestrel.ListenHandle(handle, listen => listen.UseHttps(certificate));
            }
        });
        server = builder.Build();
        server.MapGet("/.well-known/webauthn", async (HttpContext context) =>
        {
            if (!string.Equals(context.Request.Host.Host, RpId, StringComparison.OrdinalIgnoreCase))
            {
                return Results.NotFound();
            }

            Interlocked.Increment(ref documentRequests);

            // The proxy: the portal's answer on the RP ID's host (the host only the document is served on).
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(App.ServerAddress!, "/.well-known/webauthn"));
            request.Headers.Host = RpId;
            using var response = await proxyClient.SendAsync(request);
            return response.IsSuccessStatusCode
                ? Results.Bytes(await response.Content.ReadAsByteArrayAsync(), response.Content.Headers.ContentType?.ToString())
                : Results.StatusCode((int)response.StatusCode);
        });
        server.MapGet("/", () => Results.Content("<!doctype html><title>Shop</title><p>A site of the same company.</p>", "text/html"));
        await server.StartAsync();

        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = BrowserFixture.ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                $"--host-resolver-rules=MAP {RpId} 127.0.0.1, MAP {RelatedHost} 127.0.0.1, MAP {UnrelatedHost} 127.0.0.1",
                $"--ignore-certificate-errors-spki-list={Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()))}",
            ],
        });
    }

    /// <summary>A fresh browser profile with a page open on <paramref name="origin"/>.</summary>
    public async Task<IPage> PageOnAsync(string origin)
    {
        var context = await browser!.NewContextAsync(new BrowserNewContextOptions { Locale = "en-US" });
        context.SetDefaultTimeout((float)BrowserFixture.ExpectTimeout.TotalMilliseconds);
        var page = await context.NewPageAsync();
        await page.GotoAsync(origin + "/");
        return page;
    }

    public async Task DisposeAsync()
    {
        await browser.CloseWithinTimeoutAsync();

        playwright?.Dispose();
        if (server is not null)
        {
            await server.DisposeAsync();
        }

        proxyClient.Dispose();
        sitePort.Dispose();
        certificate.Dispose();
        await App.DisposeAsync();
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={RpId}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(RpId);
        names.AddDnsName(RelatedHost);
        names.AddDnsName(UnrelatedHost);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>
/// Related origin requests (WebAuthn L3 §5.11.1) in Chromium: a site on another registrable domain asks for a passkey of
/// the portal's RP ID; Chromium fetches <c>https://&lt;RP ID&gt;/.well-known/webauthn</c> and allows the request only when
/// the document lists the site's origin. The site's server passes the answer on to the portal's app API.
/// </summary>
public sealed class RelatedOriginJourneyTests(RelatedOriginBench bench) : IClassFixture<RelatedOriginBench>
{
    private const string GetScript = """
        async optionsJson => {
          try {
            const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(optionsJson));
            const credential = await navigator.credentials.get({ publicKey });
            return { credential: JSON.stringify(credential.toJSON()) };
          } catch (e) {
            return { error: e.name + ": " + e.message };
          }
        }
        """;

    [Fact]
    public async Task A_passkey_of_the_portal_signs_an_app_in_from_a_related_origin()
    {
        using var client = new AppApiClient(bench.App.CreatePortalClient());
        var page = await PageWithPasskeyAsync(bench.RelatedOrigin);
        var options = await OptionsAsync(client);

        var result = await page.EvaluateAsync<JsonElement>(GetScript, options);

        Assert.False(result.TryGetProperty("error", out var error), error.ToString());
        using var answer = JsonDocument.Parse(result.GetProperty("credential").GetString()!);
        using var clientData = JsonDocument.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(
            answer.RootElement.GetProperty("response").GetProperty("clientDataJSON").GetString()));
        Assert.Equal(bench.RelatedOrigin, clientData.RootElement.GetProperty("origin").GetString());
        var response = await client.Http.PostAsJsonAsync("/api/v1/passkey-login", new { clientId = AppApiClient.ClientId, credential = answer.RootElement });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var token = (await AppApiClient.JsonAsync(response)).GetProperty("token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await client.MeAsync(token)).StatusCode);
        Assert.True(bench.DocumentRequests > 0);
        await page.CloseContextAsync();
    }

    [Fact]
    public async Task Chromium_refuses_a_site_the_document_does_not_list()
    {
        using var client = new AppApiClient(bench.App.CreatePortalClient());
        var page = await PageWithPasskeyAsync(bench.UnrelatedOrigin);
        var options = await OptionsAsync(client);

        var result = await page.EvaluateAsync<JsonElement>(GetScript, options);

        Assert.False(result.TryGetProperty("credential", out _));
        // Chromium's words: the document was fetched (through the TLS proxy) and does not list the page's origin.
        Assert.Equal(
            "SecurityError: The relying party ID is not a registrable domain suffix of, nor equal to the current domain. Subsequently, "
                + "fetching the .well-known/webauthn resource of the claimed RP ID was successful, but no listed origin matched the caller.",
            result.GetProperty("error").GetString());
        Assert.True(bench.DocumentRequests > 0);
        await page.CloseContextAsync();
    }

    /// <summary>
    /// A page on <paramref name="origin"/> whose virtual authenticator holds a passkey of the portal's RP ID (the
    /// passkey registered on the portal with a software authenticator, its key then given to the virtual one).
    /// </summary>
    private async Task<IPage> PageWithPasskeyAsync(string origin)
    {
        var passkeys = new PasskeyBench(bench.App);
        var userId = await passkeys.CreateUserAsync();
        using var software = new SoftwareAuthenticator(RelatedOriginBench.RpId, bench.App.Origin) { Synced = true };
        await passkeys.RegisterAsync(userId, software);
        var stored = software.Credentials[0];

        var page = await bench.PageOnAsync(origin);
        var authenticator = await VirtualAuthenticator.AddAsync(page, VirtualAuthenticatorKind.PlatformWithUserVerification);
        await authenticator.AddCredentialAsync(JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["credentialId"] = Convert.ToBase64String(stored.Id),
            ["isResidentCredential"] = true,
            ["rpId"] = RelatedOriginBench.RpId,
            ["privateKey"] = Convert.ToBase64String(stored.Key.ExportPkcs8PrivateKey()),
            ["userHandle"] = Convert.ToBase64String(stored.UserHandle),
            ["signCount"] = 0,
        }));
        Assert.Equal(Encoding.UTF8.GetBytes(userId), stored.UserHandle);
        return page;
    }

    private static async Task<string> OptionsAsync(AppApiClient client)
    {
        var response = await client.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = AppApiClient.ClientId });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }
}
