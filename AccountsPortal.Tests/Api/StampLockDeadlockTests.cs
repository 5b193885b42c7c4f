using System.Net;
using System.Security.Cryptography;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// A recovery-key submission and an app's passkey verify on one login session, on PostgreSQL: the recovery rotates the
/// account's stamp (its row) and then marks the session; the verify marks the session and then checks the stamp with the
/// account's row shared. Found deadlocked (40P01) by an outside review; the verify now shares the row first.
/// </summary>
public sealed class StampLockDeadlockTests
{
    [Fact]
    public async Task Postgres_recovery_and_app_passkey_verify_on_one_login_do_not_deadlock()
    {
        // After the recovery's rotation UPDATE of "AspNetUsers", the app's verify gets up to 3 s.
        var hook = new RunAfterCommand(TimeSpan.FromSeconds(3), "UPDATE \"AspNetUsers\"", "\"SecurityStamp\"");
        using var portal = AppApiClient.Configure(new PostgresPortalAppFactory());
        using var app = portal.WithWebHostBuilder(builder => builder.ConfigureServices(services => services.AddSingleton<IInterceptor>(hook)));
        var bench = new PasskeyBench(portal);
        var (userId, email) = await bench.CreateAccountAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);
        var key = RandomNumberGenerator.GetBytes(32);
        await using (var seed = app.Services.CreateAsyncScope())
        {
            var db = seed.ServiceProvider.GetRequiredService<PortalDbContext>();
            await db.RecoveryKeys.Where(k => k.UserId == userId).ExecuteDeleteAsync();
            db.RecoveryKeys.Add(new RecoveryKey { UserId = userId, KeyHash = SHA256.HashData(key), CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
        }

        using var client = new AppApiClient(app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions
        {
            BaseAddress = new Uri("http://localhost"),
            AllowAutoRedirect = false,
        }));
        var login = await AppApiClient.JsonAsync(await client.LogInAsync(email));
        var sessionId = login.GetProperty("sessionId").GetString()!;
        var secret = login.GetProperty("sessionSecret").GetString()!;
        var optionsJson = await (await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey/options", secret)).Content.ReadAsStringAsync();
        var assertion = System.Text.Json.JsonDocument.Parse(authenticator.GetAssertion(optionsJson)).RootElement;

        HttpResponseMessage? verified = null;
        hook.Action = async () =>
        {
            verified = await client.SendAsync(HttpMethod.Post, $"/api/v1/login/{sessionId}/passkey", secret, new { credential = assertion });
        };
        hook.Arm();
        Exception? recoveryError = null;
        RecoveryResult? recovered = null;
        try
        {
            await using var scope = app.Services.CreateAsyncScope();
            recovered = await scope.ServiceProvider.GetRequiredService<TwoFactorRecovery>()
                .RecoverAsync(sessionId, LoginProof.ForApp(secret), Convert.ToHexString(key));
        }
        catch (Exception e)
        {
            recoveryError = e;
        }

        Assert.NotNull(hook.Running);
        await hook.Running;
        // Neither fails with a database error: whichever verifies the session first, the other is answered (the app may
        // then collect the token of the login the recovery verified, as its polling would).
        Assert.Null(recoveryError);
        Assert.NotNull(verified);
        Assert.NotEqual(HttpStatusCode.InternalServerError, verified.StatusCode);
    }
}
