using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A real OpenID Connect client of the portal: a confidential server app on Kestrel at http://localhost:PORT using
/// ASP.NET Core's own OpenIdConnect handler (code flow with PKCE, tokens saved in its cookie, claims from userinfo).
/// Its port is held from construction (<see cref="LoopbackPort"/>), so the portal can be configured with its redirect
/// URIs (<see cref="PortalSettings"/>) before either starts. Every page is plain text, one <c>name=value</c> a line:
/// <list type="bullet">
/// <item><c>/</c> (signed in only): the user's claims as <c>type=value</c>, the saved ID token's payload as
/// <c>id_token.NAME=JSON</c> (its raw <c>amr</c> array), and <c>refresh_token=present</c> with a fingerprint of it.</item>
/// <item><c>/refresh</c>: redeems the saved refresh token at the portal's token endpoint, checks the new ID token against
/// the published keys, saves the new tokens in the cookie and says what came back.</item>
/// <item><c>/logout</c>: signs out of the cookie and of the portal (end-session with <c>id_token_hint</c>), then <c>/signed-out</c>.</item>
/// </list>
/// </summary>
public sealed class OidcClientApp : IAsyncDisposable
{
    public const string CookieScheme = "ClientCookie";
    public const string OidcScheme = "Portal";
    public const string CallbackPath = "/signin-oidc";
    public const string SignedOutCallbackPath = "/signed-out-callback";
    public const string SignedOutPath = "/signed-out";

    private readonly LoopbackPort port = LoopbackPort.Reserve();
    private WebApplication? app;

    public OidcClientApp(string clientId = "browser-test-app", string name = "Browser Test App")
    {
        ClientId = clientId;
        Name = name;
        Origin = new Uri($"http://localhost:{port.Port}");
    }

    public string ClientId { get; }

    /// <summary>Shown by the portal ("Signed-in apps").</summary>
    public string Name { get; }

    /// <summary>A new secret for each app, longer than the portal's minimum.</summary>
    public string ClientSecret { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

    /// <summary>http://localhost:PORT, the app's origin.</summary>
    public Uri Origin { get; }

    /// <summary>The scopes the app asks for besides openid.</summary>
    public IReadOnlyList<string> Scopes { get; } = ["email", "offline_access"];

    /// <summary>Every log entry of the app (its OpenIdConnect handler says why a sign-in failed).</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>The app's absolute address of <paramref name="path"/> (which starts with a slash).</summary>
    public string Url(string path) => Origin.GetLeftPart(UriPartial.Authority) + path;

    /// <summary>The portal's configuration of this app as a first-party confidential client (no consent page).</summary>
    public IReadOnlyDictionary<string, string?> PortalSettings(int index = 0)
    {
        var prefix = $"Oidc:Clients:{index}:";
        var settings = new Dictionary<string, string?>
        {
            [prefix + "ClientId"] = ClientId,
            [prefix + "Name"] = Name,
            [prefix + "Type"] = "Confidential",
            [prefix + "ClientSecret"] = ClientSecret,
            [prefix + "FirstParty"] = "true",
            [prefix + "RedirectUris:0"] = Url(CallbackPath),
            [prefix + "PostLogoutRedirectUris:0"] = Url(SignedOutCallbackPath),
        };
        for (var i = 0; i < Scopes.Count; i++)
        {
            settings[prefix + "Scopes:" + i.ToString(CultureInfo.InvariantCulture)] = Scopes[i];
        }

        return settings;
    }

    /// <summary>Starts serving, signing people in at <paramref name="authority"/> (the portal's origin).</summary>
    public async Task StartAsync(Uri authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(OidcClientApp).FullName,
            EnvironmentName = Environments.Production,
        });
        var handles = port.DuplicateHandles();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            foreach (var handle in handles)
            {
                kestrel.ListenHandle(handle);
            }
        });
        builder.Logging.AddProvider(Logs).SetMinimumLevel(LogLevel.Debug);
        builder.Services.AddRoutingCore();
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();
        builder.Services.AddAuthorization();
        builder.Services.AddAuthentication(options =>
            {
                options.DefaultScheme = CookieScheme;
                options.DefaultChallengeScheme = OidcScheme;
            })
            .AddCookie(CookieScheme, cookie => cookie.Cookie.Name = "OidcClientApp.Session")
            .AddOpenIdConnect(OidcScheme, oidc =>
            {
                oidc.Authority = authority.GetLeftPart(UriPartial.Authority);
                oidc.RequireHttpsMetadata = false;
                oidc.ClientId = ClientId;
                oidc.ClientSecret = ClientSecret;
                oidc.ResponseType = "code";
                oidc.UsePkce = true;
                oidc.SaveTokens = true;
                oidc.GetClaimsFromUserInfoEndpoint = true;
                oidc.MapInboundClaims = false;
                oidc.Scope.Clear();
                oidc.Scope.Add("openid");
                foreach (var scope in Scopes)
                {
                    oidc.Scope.Add(scope);
                }

                oidc.CallbackPath = CallbackPath;
                oidc.SignedOutCallbackPath = SignedOutCallbackPath;
            });

        app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/", HomeAsync).RequireAuthorization();
        app.MapGet("/refresh", RefreshAsync).RequireAuthorization();
        app.MapGet("/logout", async context =>
        {
            // The app's own session, then the portal's: the handler sends the browser to end-session with the saved ID token.
            await context.SignOutAsync(CookieScheme);
            await context.SignOutAsync(OidcScheme, new AuthenticationProperties { RedirectUri = SignedOutPath });
        });
        app.MapGet(SignedOutPath, async context =>
        {
            var session = await context.AuthenticateAsync(CookieScheme);
            await WriteAsync(context, [("signed-out", "true"), ("client-session", session.Succeeded ? "present" : "none")]);
        });
        await app.StartAsync();
    }

    private static async Task HomeAsync(HttpContext context)
    {
        var session = await context.AuthenticateAsync(CookieScheme);
        var lines = context.User.Claims.Select(claim => (claim.Type, claim.Value)).ToList();
        lines.AddRange(Payload("id_token", session.Properties?.GetTokenValue("id_token")));
        var refreshToken = session.Properties?.GetTokenValue("refresh_token");
        lines.Add(("refresh_token", refreshToken is null ? "absent" : "present"));
        if (refreshToken is not null)
        {
            lines.Add(("refresh_token.fingerprint", Fingerprint(refreshToken)));
        }

        await WriteAsync(context, lines);
    }

    /// <summary>
    /// The refresh token grant (RFC 6749 §6) with the client's credentials, as a server app renews its tokens; the new
    /// ID token is validated as OpenID Connect Core §12.2 asks (signature, issuer, audience), then the tokens are saved.
    /// </summary>
    private async Task RefreshAsync(HttpContext context)
    {
        var session = await context.AuthenticateAsync(CookieScheme);
        var properties = session.Properties!;
        var oldRefreshToken = properties.GetTokenValue("refresh_token");
        if (oldRefreshToken is null)
        {
            await WriteAsync(context, [("refresh", "no refresh token saved")]);
            return;
        }

        var options = context.RequestServices.GetRequiredService<IOptionsMonitor<OpenIdConnectOptions>>().Get(OidcScheme);
        var configuration = await options.ConfigurationManager!.GetConfigurationAsync(context.RequestAborted);
        using var response = await options.Backchannel.PostAsync(new Uri(configuration.TokenEndpoint), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = oldRefreshToken,
            ["client_id"] = ClientId,
            ["client_secret"] = ClientSecret,
        }), context.RequestAborted);
        var body = await response.Content.ReadAsStringAsync(context.RequestAborted);
        if (!response.IsSuccessStatusCode)
        {
            await WriteAsync(context, [("refresh", "failed"), ("status", ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)), ("body", body)]);
            return;
        }

        using var tokens = JsonDocument.Parse(body);
        string? Token(string name) => tokens.RootElement.TryGetProperty(name, out var value) ? value.GetString() : null;
        var (accessToken, idToken, refreshToken) = (Token("access_token"), Token("id_token"), Token("refresh_token"));

        var idTokenValid = false;
        if (idToken is not null)
        {
            var validation = options.TokenValidationParameters.Clone();
            validation.ValidIssuer = configuration.Issuer;
            validation.ValidAudience = ClientId;
            validation.IssuerSigningKeys = configuration.SigningKeys;
            idTokenValid = (await new JsonWebTokenHandler().ValidateTokenAsync(idToken, validation)).IsValid;
        }

        // Saved in the cookie, as the handler saved the first ones.
        var saved = properties.GetTokens().ToDictionary(t => t.Name, t => t.Value, StringComparer.Ordinal);
        foreach (var (name, value) in new[] { ("access_token", accessToken), ("id_token", idToken), ("refresh_token", refreshToken) })
        {
            if (value is not null)
            {
                saved[name] = value;
            }
        }

        if (tokens.RootElement.TryGetProperty("expires_in", out var expiresIn) && expiresIn.TryGetInt32(out var seconds))
        {
            saved["expires_at"] = DateTimeOffset.UtcNow.AddSeconds(seconds).ToString("o", CultureInfo.InvariantCulture);
        }

        properties.StoreTokens(saved.Select(t => new AuthenticationToken { Name = t.Key, Value = t.Value }));
        await context.SignInAsync(CookieScheme, session.Principal!, properties);

        List<(string, string)> lines =
        [
            ("refresh", "ok"),
            ("refreshed.access_token", accessToken is null ? "absent" : "present"),
            ("refreshed.id_token", idToken is null ? "absent" : "present"),
            ("refreshed.id_token.valid", idTokenValid ? "true" : "false"),
            ("refreshed.refresh_token", refreshToken is null ? "absent" : "present"),
            ("refresh_token.changed", refreshToken is not null && refreshToken != oldRefreshToken ? "true" : "false"),
        ];
        if (refreshToken is not null)
        {
            lines.Add(("refresh_token.fingerprint", Fingerprint(refreshToken)));
        }

        lines.AddRange(Payload("refreshed.id_token", idToken));
        await WriteAsync(context, lines);
    }

    /// <summary>A JWT's payload members as <c>PREFIX.NAME=JSON</c> (arrays and strings as they were sent).</summary>
    private static IEnumerable<(string, string)> Payload(string prefix, string? jwt)
    {
        if (jwt?.Split('.') is not [_, var payload, ..])
        {
            return [];
        }

        using var json = JsonDocument.Parse(WebEncoders.Base64UrlDecode(payload));
        return [.. json.RootElement.EnumerateObject().Select(member => ($"{prefix}.{member.Name}", member.Value.GetRawText()))];
    }

    private static string Fingerprint(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)))[..16];

    private static Task WriteAsync(HttpContext context, IEnumerable<(string Name, string Value)> lines)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(string.Concat(lines.Select(line => $"{line.Name}={line.Value}\n")), context.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        // After the server: Kestrel has closed its copies of the port's sockets.
        port.Dispose();
    }
}
