using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// A password change (a security-stamp rotation) that commits while an app's passkey verification is between its
/// stamp check and its commit, on PostgreSQL, where nothing like SQLite's write lock keeps the two apart: the token
/// the verification issues must not outlive the change. (Found by an outside review: the rotation's revocation could
/// not see the token, not yet committed, and the token stayed live.)
/// </summary>
public sealed class TokenStampRaceTests
{
    [Fact]
    public async Task Postgres_a_password_change_committing_while_the_verify_transaction_is_open_leaves_no_live_token()
    {
        // After the verify transaction's stamp check, the rotation gets a second to commit.
        var hook = new RunAfterCommand(TimeSpan.FromSeconds(1), "FROM \"AspNetUsers\"", "\"SecurityStamp\"");
        using var portal = AppApiClient.Configure(new PostgresPortalAppFactory());
        // The same portal and database, with the hook among the portal's EF Core interceptors.
        using var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(hook)));
        var bench = new PasskeyBench(portal);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        using var client = new AppApiClient(app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions
        {
            BaseAddress = new Uri("http://localhost"),
            AllowAutoRedirect = false,
        }));
        var login = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = login.GetProperty("sessionId").GetString()!;
        var secret = login.GetProperty("sessionSecret").GetString()!;
        var optionsJson = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();

        hook.Action = async () =>
        {
            // The password change: another request, its own connection and transaction.
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await scope.ServiceProvider.GetRequiredService<AccountSecurity>().RotateAsync(userId, null, "password changed");
            await transaction.CommitAsync();
        };
        hook.Arm();
        var verified = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret,
            new { credential = System.Text.Json.JsonDocument.Parse(authenticator.GetAssertion(optionsJson)).RootElement });
        Assert.NotNull(hook.Running);
        await hook.Running;

        // Whatever the app was told, no token of the account is live after the change, and a token it got is refused.
        await using var check = app.Services.CreateAsyncScope();
        var live = await check.ServiceProvider.GetRequiredService<PortalDbContext>().AppTokens.CountAsync(t => t.UserId == userId && t.RevokedAt == null);
        Assert.Equal(0, live);
        if (verified.StatusCode == HttpStatusCode.OK)
        {
            var token = (await AppApiClient.JsonAsync(verified)).GetProperty("token").GetString()!;
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.MeAsync(token)).StatusCode);
        }
    }
}
