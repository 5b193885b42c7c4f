using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// The per-account limit on wrong codes and recovery keys. Every change is a single statement that
/// commits on its own, so a failure is counted even if the rest of the request fails.
/// </summary>
public sealed class SecondFactorLockout(PortalDbContext db, TimeProvider time, IOptions<TwoFactorOptions> options, Activity.SecurityEvents events)
{
    /// <summary>How long the account still refuses second-factor attempts, or null when it does not.</summary>
    public async Task<TimeSpan?> RemainingAsync(string userId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var until = await db.TwoFactorLockouts.AsNoTracking()
            .Where(l => l.UserId == userId && l.LockedUntil > now)
            .Select(l => l.LockedUntil)
            .SingleOrDefaultAsync(cancellationToken);
        return until - now;
    }

    /// <summary>Counts one failure; the one that reaches the limit locks the account and restarts the count.</summary>
    public async Task RecordFailureAsync(string userId, CancellationToken cancellationToken = default)
    {
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"INSERT INTO TwoFactorLockouts (UserId, FailedAttempts) VALUES ({userId}, 0) ON CONFLICT (UserId) DO NOTHING",
            cancellationToken);

        var max = options.Value.MaxFailedAttempts;
        DateTimeOffset? lockUntil = time.GetUtcNow() + options.Value.LockoutDuration;
        await db.TwoFactorLockouts
            .Where(l => l.UserId == userId)
            .ExecuteUpdateAsync(set => set
                .SetProperty(l => l.LockedUntil, l => l.FailedAttempts + 1 >= max ? lockUntil : l.LockedUntil)
                .SetProperty(l => l.FailedAttempts, l => l.FailedAttempts + 1 >= max ? 0 : l.FailedAttempts + 1), cancellationToken);

        if (await db.TwoFactorLockouts.AnyAsync(l => l.UserId == userId && l.LockedUntil == lockUntil, cancellationToken))
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SecondFactorLockedOut, cancellationToken: cancellationToken);
        }
    }

    /// <summary>A success ends the run of consecutive failures.</summary>
    public Task ResetAsync(string userId, CancellationToken cancellationToken = default) =>
        db.TwoFactorLockouts
            .Where(l => l.UserId == userId && l.FailedAttempts > 0)
            .ExecuteUpdateAsync(set => set.SetProperty(l => l.FailedAttempts, 0), cancellationToken);
}
