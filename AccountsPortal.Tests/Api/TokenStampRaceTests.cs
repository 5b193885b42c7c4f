using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// A password change (a security-stamp rotation) that commits while an app's token is between its stamp check (the
/// token's INSERT, which writes it only if the stamp matches) and its commit, on PostgreSQL, where nothing like SQLite's
/// write lock keeps the two apart: the token must not outlive the change. (Found by an outside review: the rotation's revocation could not see the token, not yet committed, and the
/// token stayed live.) The passkey verify shares the account's row before anything else (<c>RowLocks.ShareAccountAsync</c>);
/// a password-only login has only the token INSERT's own <c>FOR SHARE</c>, in the transaction the token opens for itself.
/// </summary>
public sealed class TokenStampRaceTests
{
    [Fact]
    public async Task Postgres_a_password_change_committing_while_the_verify_transaction_is_open_leaves_no_live_token()
    {
        // After the verify transaction's stamp check, the rotation gets a second to commit.
        var hook = new RunAfterCommand(TimeSpan.FromSeconds(1), "FROM \"AspNetUsers\"", "\"SecurityStamp\"");
        using var login = await HookedAppPasskeyLogin.StartAsync(hook);
        var (app, userId) = (login.App, login.UserId);

        hook.Action = () => ChangePasswordAsync(app, userId);
        hook.Arm();
        var verified = await login.VerifyAsync(System.Text.Json.JsonDocument.Parse(login.Authenticator.GetAssertion(login.OptionsJson)).RootElement);
        Assert.NotNull(hook.Running);
        await hook.Running;

        await AssertNoLiveTokenAsync(app, login.Client, userId, verified);
    }

    [Fact]
    public async Task Postgres_a_password_change_committing_while_a_password_only_app_login_is_issuing_its_token_leaves_no_live_token()
    {
        // After the token's stamp check (not the account-row share, which names no stamp), the rotation gets a second.
        var hook = new RunAfterCommand(TimeSpan.FromSeconds(1), "INSERT INTO \"AppTokens\"", "\"SecurityStamp\" IS NOT DISTINCT FROM");
        using var portal = AppApiClient.Configure(new PostgresPortalAppFactory());
        using var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(hook)));
        var (userId, email) = await new PasskeyBench(portal).CreateAccountAsync();
        using var client = new AppApiClient(app.CreateClient());
        hook.Action = () => ChangePasswordAsync(app, userId);
        hook.Arm();

        var loggedIn = await client.LogInAsync(email);
        Assert.NotNull(hook.Running);
        await hook.Running;

        await AssertNoLiveTokenAsync(app, client, userId, loggedIn);
    }

    [Fact]
    public async Task Postgres_a_password_only_app_login_issuing_its_token_while_a_password_change_is_uncommitted_gets_no_live_token()
    {
        // The other order: the change has written the new stamp and holds the account's row, uncommitted, while the
        // login (which reads the old stamp) issues its token; after three seconds the change revokes and commits. The
        // token's INSERT waits for the row and then finds the new stamp: the login is refused, and nothing is issued
        // that the revocation missed. (A first login warms the portal up, so the second reaches its INSERT well
        // within those seconds; its token is one the change revokes.)
        var hook = new RunAfterCommand(TimeSpan.FromSeconds(3), "UPDATE \"AspNetUsers\"", "\"SecurityStamp\"");
        using var portal = AppApiClient.Configure(new PostgresPortalAppFactory());
        using var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(hook)));
        var (userId, email) = await new PasskeyBench(portal).CreateAccountAsync();
        using var client = new AppApiClient(app.CreateClient());
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);
        HttpResponseMessage? loggedIn = null;
        hook.Action = async () => loggedIn = await client.LogInAsync(email);
        hook.Arm();

        await ChangePasswordAsync(app, userId);
        Assert.NotNull(hook.Running);
        await hook.Running;

        Assert.Equal(HttpStatusCode.Gone, loggedIn!.StatusCode);
        await AssertNoLiveTokenAsync(app, client, userId, loggedIn);
    }

    /// <summary>The password change: another request, its own connection and transaction.</summary>
    private static async Task ChangePasswordAsync(WebApplicationFactory<Program> app, string userId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        await scope.ServiceProvider.GetRequiredService<AccountSecurity>().RotateAsync(userId, null, "password changed");
        await transaction.CommitAsync();
    }

    /// <summary>Whatever the app was told, no token of the account is live after the change, and a token it got is refused.</summary>
    private static async Task AssertNoLiveTokenAsync(WebApplicationFactory<Program> app, AppApiClient client, string userId, HttpResponseMessage answer)
    {
        await using var check = app.Services.CreateAsyncScope();
        var live = await check.ServiceProvider.GetRequiredService<PortalDbContext>().AppTokens.CountAsync(t => t.UserId == userId && t.RevokedAt == null);
        Assert.Equal(0, live);
        if (answer.StatusCode == HttpStatusCode.OK)
        {
            var token = (await AppApiClient.JsonAsync(answer)).GetProperty("token").GetString()!;
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.MeAsync(token)).StatusCode);
        }
    }
}
