using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// For races made on purpose on PostgreSQL: a portal whose EF Core interceptors include a <see cref="RunAfterCommand"/>,
/// an account with a passkey, and an app's login of it awaiting the passkey, its assertion options already fetched.
/// </summary>
public sealed class HookedAppPasskeyLogin : IDisposable
{
    private readonly PortalAppFactory portal;

    private HookedAppPasskeyLogin(PortalAppFactory portal, WebApplicationFactory<Program> app, string userId, SoftwareAuthenticator authenticator, AppApiClient client)
    {
        this.portal = portal;
        App = app;
        UserId = userId;
        Authenticator = authenticator;
        Client = client;
    }

    /// <summary>The portal with the hook (the same database as the portal without it).</summary>
    public WebApplicationFactory<Program> App { get; }

    public string UserId { get; }

    /// <summary>The account's passkey.</summary>
    public SoftwareAuthenticator Authenticator { get; }

    /// <summary>The app, calling <see cref="App"/>.</summary>
    public AppApiClient Client { get; }

    public string SessionId { get; private set; } = "";

    /// <summary>The login's session secret, which the app sends with every call.</summary>
    public string Secret { get; private set; } = "";

    /// <summary>The assertion options the app was given for the login.</summary>
    public string OptionsJson { get; private set; } = "";

    /// <summary>Starts the portal with <paramref name="hook"/>, the account and its passkey, then the app's login.</summary>
    /// <param name="beforeLogin">Runs on the hooked portal's services after the passkey is registered, before the login (with the account's id).</param>
    public static async Task<HookedAppPasskeyLogin> StartAsync(RunAfterCommand hook, Func<IServiceProvider, string, Task>? beforeLogin = null)
    {
        var portal = AppApiClient.Configure(new PostgresPortalAppFactory());
        var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(hook)));
        var bench = new PasskeyBench(portal);
        var (userId, email) = await bench.CreateAccountAsync();
        var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        if (beforeLogin is not null)
        {
            await beforeLogin(app.Services, userId);
        }

        var client = new AppApiClient(app.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("http://localhost"), AllowAutoRedirect = false }));
        var login = new HookedAppPasskeyLogin(portal, app, userId, authenticator, client);
        var started = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        login.SessionId = started.GetProperty("sessionId").GetString()!;
        login.Secret = started.GetProperty("sessionSecret").GetString()!;
        login.OptionsJson = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{login.SessionId}/passkey/options", login.Secret)).Content.ReadAsStringAsync();
        return login;
    }

    /// <summary>The app sends the passkey's answer to its options (<c>POST …/passkey</c>).</summary>
    public Task<HttpResponseMessage> VerifyAsync(System.Text.Json.JsonElement credential) =>
        Client.SendAsync(HttpMethod.Post, $"/api/v1/login/{SessionId}/passkey", Secret, new { credential });

    public void Dispose()
    {
        Client.Dispose();
        Authenticator.Dispose();
        App.Dispose();
        portal.Dispose();
    }
}
