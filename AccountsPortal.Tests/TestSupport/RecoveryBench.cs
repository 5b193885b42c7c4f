using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>An account with a recovery key and a passkey, in the middle of a login that needs the passkey.</summary>
public sealed class RecoveryBench(PortalAppFactory app)
{
    public PasskeyBench Passkeys { get; } = new(app);

    public async Task<(string UserId, string RecoveryKey)> AccountWithPasskeyAsync()
    {
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        var words = await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        using var authenticator = Passkeys.NewAuthenticator();
        await Passkeys.RegisterAsync(userId, authenticator);
        return (userId, string.Join(' ', words));
    }

    /// <summary>Passes the password step; returns the session and the pending-login secret this "browser" holds.</summary>
    public Task<StartedLogin> StartLoginAsync(string userId) =>
        Passkeys.WithAsync(s => s.GetRequiredService<LoginSessionService>().StartAsync(userId, null));

    public Task<RecoveryResult> RecoverAsync(StartedLogin login, string? key) =>
        Passkeys.WithAsync(s => s.GetRequiredService<TwoFactorRecovery>().RecoverAsync(login.SessionId, new LoginProof(login.BrowserSecret, null), key));

    /// <summary>Recovery key hash, lockout and session, as text: what a refused attempt must leave as it was.</summary>
    public Task<string> SnapshotAsync(string userId, string sessionId) =>
        app.WithDbAsync(async db => System.Text.Json.JsonSerializer.Serialize(new
        {
            Key = await db.RecoveryKeys.AsNoTracking().Where(k => k.UserId == userId).Select(k => new { k.KeyHash, k.CreatedAt }).SingleAsync(),
            Lockout = await db.AttemptCounters.AsNoTracking().Where(c => c.Key == AccountsPortal.Features.Accounts.Attempts.AttemptLimits.SecondFactorKey(userId)).SingleOrDefaultAsync(),
            Session = await db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == sessionId),
        }));
}
