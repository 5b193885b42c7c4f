using System.Net;
using System.Security.Cryptography;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
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
        var key = RandomNumberGenerator.GetBytes(32);
        using var login = await HookedAppPasskeyLogin.StartAsync(hook, async (services, userId) =>
        {
            await using var seed = services.CreateAsyncScope();
            var db = seed.ServiceProvider.GetRequiredService<PortalDbContext>();
            await db.RecoveryKeys.Where(k => k.UserId == userId).ExecuteDeleteAsync();
            db.RecoveryKeys.Add(new RecoveryKey { UserId = userId, KeyHash = SHA256.HashData(key), CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
        });
        var assertion = System.Text.Json.JsonDocument.Parse(login.Authenticator.GetAssertion(login.OptionsJson)).RootElement;

        HttpResponseMessage? verified = null;
        hook.Action = async () =>
        {
            verified = await login.VerifyAsync(assertion);
        };
        hook.Arm();
        Exception? recoveryError = null;
        RecoveryResult? recovered = null;
        try
        {
            await using var scope = login.App.Services.CreateAsyncScope();
            recovered = await scope.ServiceProvider.GetRequiredService<TwoFactorRecovery>()
                .RecoverAsync(login.SessionId, LoginProof.ForApp(login.Secret), Convert.ToHexString(key));
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
