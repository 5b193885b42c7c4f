using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>How many wrong guesses a key allows and for how long it then refuses them.</summary>
/// <param name="MaxFailures">Wrong guesses per window; the attempt that reaches it locks the key.</param>
/// <param name="LockoutDuration">How long a lock lasts; also the length of a counting window.</param>
public sealed record AttemptPolicy(int MaxFailures, TimeSpan LockoutDuration);

/// <summary>
/// Per-account lockouts that hold under any concurrency and on every node (the counters live in the
/// database). Every rule is one conditional statement: an attempt is reserved by an UPDATE that also
/// checks the limit (never check-then-act), a failure is counted by another, and the lock is engaged
/// by exactly one of the failures that reach the limit.
/// </summary>
public sealed class AttemptLimits(PortalDbContext db, TimeProvider time)
{
    /// <summary>The longest key: a prefix and a normalised email of at most 256 characters.</summary>
    public const int MaxKeyLength = 320;

    public static string PasswordKey(string normalizedEmail) => "password:" + normalizedEmail;

    public static string SecondFactorKey(string userId) => "second-factor:" + userId;

    /// <summary>
    /// Reserves one attempt. Null when the guess may be evaluated; otherwise how long the key stays
    /// locked (the whole lockout duration while other reserved attempts are still being evaluated).
    /// </summary>
    public async Task<TimeSpan?> TryReserveAsync(string key, AttemptPolicy policy, CancellationToken cancellationToken = default)
    {
        // The common case is one UPDATE. When it changes nothing the key may be new (or locked): create its row
        // with this attempt reserved, or, when a parallel request created it first, try the UPDATE once more.
        if (await TryReserveExistingAsync(key, policy, cancellationToken))
        {
            return null;
        }

        if (await TryCreateReservedAsync(key, cancellationToken) || await TryReserveExistingAsync(key, policy, cancellationToken))
        {
            return null;
        }

        return await RemainingAsync(key, cancellationToken) ?? policy.LockoutDuration;
    }

    private async Task<bool> TryReserveExistingAsync(string key, AttemptPolicy policy, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var windowOver = now - policy.LockoutDuration;
        var max = policy.MaxFailures;

        // A lock that ran out, or a window that ran out, starts a new window with this attempt.
        var reserved = await db.AttemptCounters
            .Where(c => c.Key == key
                && ((c.LockedUntil != null && c.LockedUntil <= now)
                    || (c.LockedUntil == null && (c.WindowStart <= windowOver || c.Reserved < max))))
            .ExecuteUpdateAsync(set => set
                .SetProperty(c => c.Reserved, c => c.LockedUntil != null || c.WindowStart <= windowOver ? 1 : c.Reserved + 1)
                .SetProperty(c => c.Failures, c => c.LockedUntil != null || c.WindowStart <= windowOver ? 0 : c.Failures)
                .SetProperty(c => c.WindowStart, c => c.LockedUntil != null || c.WindowStart <= windowOver ? now : c.WindowStart)
                .SetProperty(c => c.LockedUntil, (DateTimeOffset?)null), cancellationToken);
        return reserved == 1;
    }

    /// <summary>
    /// Counts a wrong guess of a reserved attempt. Returns whether this failure locked the key (true
    /// for exactly one caller, however many fail at once); the caller records that event.
    /// </summary>
    public async Task<bool> RecordFailureAsync(string key, AttemptPolicy policy, CancellationToken cancellationToken = default)
    {
        await db.AttemptCounters.Where(c => c.Key == key)
            .ExecuteUpdateAsync(set => set.SetProperty(c => c.Failures, c => c.Failures + 1), cancellationToken);
        DateTimeOffset? lockUntil = time.GetUtcNow() + policy.LockoutDuration;
        var locked = await db.AttemptCounters
            .Where(c => c.Key == key && c.LockedUntil == null && c.Failures >= policy.MaxFailures)
            .ExecuteUpdateAsync(set => set.SetProperty(c => c.LockedUntil, lockUntil), cancellationToken);
        return locked == 1;
    }

    /// <summary>
    /// Gives back the reservation of a right guess. The wrong guesses of the window stay counted: a
    /// sign-in by the owner does not hand a parallel guesser a fresh set of attempts, so at most
    /// <see cref="AttemptPolicy.MaxFailures"/> wrong guesses are evaluated per window, whatever succeeds meanwhile.
    /// </summary>
    public Task ReleaseAsync(string key, CancellationToken cancellationToken = default) =>
        db.AttemptCounters.Where(c => c.Key == key && c.Reserved > 0)
            .ExecuteUpdateAsync(set => set.SetProperty(c => c.Reserved, c => c.Reserved - 1), cancellationToken);

    /// <summary>How long the key still refuses attempts, or null when it is not locked.</summary>
    public async Task<TimeSpan?> RemainingAsync(string key, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var until = await db.AttemptCounters.AsNoTracking()
            .Where(c => c.Key == key && c.LockedUntil > now)
            .Select(c => c.LockedUntil)
            .SingleOrDefaultAsync(cancellationToken);
        return until - now;
    }

    /// <summary>Failures counted in the current window (0 when there is no counter).</summary>
    public Task<int> FailuresAsync(string key, CancellationToken cancellationToken = default) =>
        db.AttemptCounters.AsNoTracking().Where(c => c.Key == key).Select(c => c.Failures).SingleOrDefaultAsync(cancellationToken);

    /// <summary>
    /// Creates the key's counter with a window starting now and this attempt reserved, unless it exists: true when
    /// this statement created it. The row is never written "empty" first: the expired-rows cleanup deletes counters
    /// whose window is over, and one caught between an empty insert and the reservation would refuse a first
    /// attempt as locked. Portable SQL: SQLite and PostgreSQL both have ON CONFLICT and double-quoted names.
    /// </summary>
    private async Task<bool> TryCreateReservedAsync(string key, CancellationToken cancellationToken) =>
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO "AttemptCounters" ("Key", "Reserved", "Failures", "WindowStart") VALUES ({key}, 1, 0, {PortalDbContext.StoredInstant(time.GetUtcNow())}) ON CONFLICT ("Key") DO NOTHING""",
            cancellationToken) == 1;
}
