using AccountsPortal.Features.Accounts.Attempts;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// The per-account limit on wrong codes and recovery keys (<see cref="TwoFactorOptions"/>), counted in
/// the database by <see cref="AttemptLimits"/>: an attempt is reserved before it is evaluated, so no
/// number of parallel requests gets more wrong guesses evaluated than the limit, on any node.
/// </summary>
public sealed class SecondFactorLockout(AttemptLimits attempts, IOptions<TwoFactorOptions> options, Activity.SecurityEvents events)
{
    private AttemptPolicy Policy => new(options.Value.MaxFailedAttempts, options.Value.LockoutDuration);

    /// <summary>Reserves an attempt; null when it may be evaluated, else how long the account still refuses them.</summary>
    public Task<TimeSpan?> TryReserveAsync(string userId, CancellationToken cancellationToken = default) =>
        attempts.TryReserveAsync(AttemptLimits.SecondFactorKey(userId), Policy, cancellationToken);

    /// <summary>How long the account still refuses second-factor attempts, or null when it does not.</summary>
    public Task<TimeSpan?> RemainingAsync(string userId, CancellationToken cancellationToken = default) =>
        attempts.RemainingAsync(AttemptLimits.SecondFactorKey(userId), cancellationToken);

    /// <summary>Counts a wrong guess of a reserved attempt; returns the lock's remaining time when the account is now locked.</summary>
    public async Task<TimeSpan?> RecordFailureAsync(string userId, CancellationToken cancellationToken = default)
    {
        if (await attempts.RecordFailureAsync(AttemptLimits.SecondFactorKey(userId), Policy, cancellationToken))
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SecondFactorLockedOut, cancellationToken: cancellationToken);
        }

        return await RemainingAsync(userId, cancellationToken);
    }

    /// <summary>A success gives back its reservation; the window's wrong guesses stay counted.</summary>
    public Task ReleaseAsync(string userId, CancellationToken cancellationToken = default) =>
        attempts.ReleaseAsync(AttemptLimits.SecondFactorKey(userId), cancellationToken);

    /// <summary>Wrong guesses counted in the current window.</summary>
    public Task<int> FailuresAsync(string userId, CancellationToken cancellationToken = default) =>
        attempts.FailuresAsync(AttemptLimits.SecondFactorKey(userId), cancellationToken);
}
