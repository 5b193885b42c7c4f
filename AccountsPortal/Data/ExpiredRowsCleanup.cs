using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Data;

/// <summary>
/// Deletes what can no longer be used: old login sessions (with their app logins), ceremonies,
/// signed-out browser sessions, dead app tokens, ended OpenID Connect tokens and sign-ins, and sent emails. Kept a while past expiry (the
/// uses of anonymous passkey sign-in challenges excepted: they go a day after they expire) so the recent past stays
/// readable when something needs looking into — but a token an app may still collect is wiped as soon as its
/// collect window has passed, since it is a live credential.
/// </summary>
public sealed class ExpiredRowsCleanup(
    IServiceScopeFactory scopes,
    TimeProvider time,
    Microsoft.Extensions.Options.IOptions<Features.Apps.AppsOptions> apps,
    ILogger<ExpiredRowsCleanup> logger)
    : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);
    public static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    /// <summary>
    /// How long past its challenge's expiry the use of a sign-in challenge is kept. Deleting a use lets its challenge be
    /// answered again wherever a node's clock still says it is unexpired: the nodes' clocks must agree to within this.
    /// </summary>
    public static readonly TimeSpan SignInUseRetention = TimeSpan.FromDays(1);

    /// <summary>
    /// Runs <see cref="RunOnceAsync"/> an <see cref="Interval"/> after the previous run ended. The wait is one-shot and
    /// measured from now, so a clock that jumps (a suspended machine waking, a corrected clock, a test's fake clock moving
    /// by years) causes one run, not one per missed interval. The continuation may still run on the thread that completes
    /// the wait (a fake clock's caller without a synchronization context); <c>ForceYielding</c> only moves a wait that had
    /// already ended.
    /// </summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // A busy database now is no reason to stop cleaning later.
                DataLog.ExpiredRowsCleanupFailed(logger, exception, Interval);
            }
        }
    }

    public async Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var cutoff = now - Retention;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        var deleted = await db.PasskeyCeremonies.Where(c => c.ExpiresAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        // The uses of sign-in challenges belong to no account and anyone may answer one: nothing to look into later, so
        // they go a day after their challenge expired (a use must outlive what any node, by its own clock, would still
        // accept), and what anonymous answers store stays bounded by the rate limit times that.
        deleted += await db.PasskeyCeremonies
            .Where(c => c.Purpose == Features.Passkeys.CeremonyPurpose.SignIn && c.ExpiresAt < now - SignInUseRetention)
            .ExecuteDeleteAsync(cancellationToken);
        deleted += await db.AppLogins.Where(a => db.LoginSessions.Any(s => s.Id == a.SessionId && s.ExpiresAt < cutoff)).ExecuteDeleteAsync(cancellationToken);
        deleted += await db.LoginSessions.Where(s => s.ExpiresAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        deleted += await db.BrowserSessions.Where(s => s.ExpiresAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        deleted += await db.AppTokens.Where(t => t.ExpiresAt < cutoff || t.RevokedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        deleted += await db.OutboxMessages.Where(m => m.SentAt < cutoff || m.FailedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
        var collectedBy = now - apps.Value.CollectWindow;
        deleted += await db.AppLogins
            .Where(a => a.ProtectedToken != null && db.LoginSessions.Any(s => s.Id == a.SessionId && s.VerifiedAt < collectedBy))
            .ExecuteUpdateAsync(set => set.SetProperty(a => a.ProtectedToken, (string?)null), cancellationToken);
        // Attempt counters whose window began a day ago and that hold no lock (windows and locks last minutes).
        var staleWindow = cutoff - TimeSpan.FromDays(1);
        deleted += await db.AttemptCounters.Where(c => c.WindowStart < staleWindow && (c.LockedUntil == null || c.LockedUntil < cutoff)).ExecuteDeleteAsync(cancellationToken);
        // Rate windows last a minute; one that began before the last hour can only start again.
        var endedWindow = now - TimeSpan.FromHours(1);
        deleted += await db.RateWindows.Where(w => w.WindowStart < endedWindow).ExecuteDeleteAsync(cancellationToken);
        // OpenID Connect tokens a retention period after they expired, whatever their status: a redeemed refresh token stays
        // until then, so that its reuse is still recognised and revokes its family. Then sign-ins left without a valid
        // token (OpenIddict's rule); consents (valid permanent grants) stay.
        var expiredBefore = cutoff.UtcDateTime;
        deleted += await db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreToken>()
            .Where(t => t.ExpirationDate < expiredBefore).ExecuteDeleteAsync(cancellationToken);
        deleted += (int)await scope.ServiceProvider.GetRequiredService<OpenIddict.Abstractions.IOpenIddictAuthorizationManager>().PruneAsync(cutoff, cancellationToken);
        deleted += await db.Set<Features.Oidc.OidcRefreshRedemption>()
            .Where(r => !db.Set<OpenIddict.EntityFrameworkCore.Models.OpenIddictEntityFrameworkCoreToken>().Any(t => t.Id == r.TokenId))
            .ExecuteDeleteAsync(cancellationToken);
        if (deleted > 0)
        {
            DataLog.ExpiredRowsDeleted(logger, deleted);
        }

        return deleted;
    }
}
