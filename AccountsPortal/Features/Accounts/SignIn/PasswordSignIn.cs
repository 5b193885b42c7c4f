using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Activity;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.SignIn;

/// <summary>
/// The password step of a login. It never signs anyone in by itself. Guesses are limited per IP and per
/// account (<see cref="AttemptRateLimiter"/>) and locked out per account (<see cref="AttemptLimits"/>,
/// keyed by the normalised email, so an unknown email answers exactly like a known one, lockout included).
/// </summary>
public sealed class PasswordSignIn(
    PortalDbContext db,
    UserManager<PortalUser> users,
    IPasswordHasher<PortalUser> hasher,
    AttemptLimits attempts,
    AttemptRateLimiter rateLimiter,
    IOptions<IdentityOptions> identityOptions,
    SecurityEvents events,
    TimeProvider time)
{
    // A real hash of a throw-away password, so an unknown email costs the same hashing work as a wrong password.
    private static readonly Lazy<string> DecoyHash = new(() =>
        new PasswordHasher<PortalUser>().HashPassword(new PortalUser(), Guid.NewGuid().ToString()));

    private AttemptPolicy Policy => new(identityOptions.Value.Lockout.MaxFailedAccessAttempts, identityOptions.Value.Lockout.DefaultLockoutTimeSpan);

    /// <summary>Checks an email and password typed at login (form, or the app API).</summary>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<PasswordCheck> CheckAsync(string email, string password, IPAddress? clientIp, CancellationToken cancellationToken = default)
    {
        var normalizedEmail = users.NormalizeEmail(email.Trim());
        if (await rateLimiter.TryAcquireForEmailAsync(clientIp, normalizedEmail, cancellationToken) is { } wait)
        {
            return PasswordCheck.Limited(wait);
        }

        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.NormalizedEmail == normalizedEmail, cancellationToken);
        return await CheckAsync(AttemptLimits.PasswordKey(normalizedEmail), user, password, cancellationToken);
    }

    /// <summary>Checks the password of a signed-in account before a change; counts toward the same lockout as login.</summary>
    public async Task<PasswordCheck> CheckForAccountAsync(string userId, string? password, IPAddress? clientIp, CancellationToken cancellationToken = default)
    {
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == userId, cancellationToken);
        if (user?.NormalizedEmail is null || string.IsNullOrEmpty(password))
        {
            return PasswordCheck.Invalid;
        }

        if (await rateLimiter.TryAcquireForEmailAsync(clientIp, user.NormalizedEmail, cancellationToken) is { } wait)
        {
            return PasswordCheck.Limited(wait);
        }

        return await CheckAsync(AttemptLimits.PasswordKey(user.NormalizedEmail), user, password, cancellationToken);
    }

    private async Task<PasswordCheck> CheckAsync(string key, PortalUser? user, string password, CancellationToken cancellationToken)
    {
        // The attempt is reserved before the password is hashed: parallel guesses past the limit are never evaluated.
        if (await attempts.TryReserveAsync(key, Policy, cancellationToken) is { } locked)
        {
            if (user is not null)
            {
                await events.RecordAsync(user.Id, SecurityEventKind.SignInRefusedWhileLocked, cancellationToken: cancellationToken);
            }

            return PasswordCheck.Locked(time.GetUtcNow() + locked);
        }

        if (await VerifyAsync(user, password, cancellationToken))
        {
            await attempts.ReleaseAsync(key, cancellationToken);
            return new PasswordCheck(PasswordCheckOutcome.Succeeded, user);
        }

        var lockedNow = await attempts.RecordFailureAsync(key, Policy, cancellationToken);
        if (user is not null)
        {
            await events.RecordAsync(user.Id, SecurityEventKind.PasswordRejected, cancellationToken: cancellationToken);
            if (lockedNow)
            {
                await events.RecordAsync(user.Id, SecurityEventKind.AccountLockedOut, cancellationToken: cancellationToken);
            }
        }

        return await attempts.RemainingAsync(key, cancellationToken) is { } remaining
            ? PasswordCheck.Locked(time.GetUtcNow() + remaining)
            : PasswordCheck.Invalid;
    }

    /// <summary>Whether the password is the user's; an unknown user (or one without a password) costs a decoy hash all the same.</summary>
    private async Task<bool> VerifyAsync(PortalUser? user, string password, CancellationToken cancellationToken)
    {
        if (user?.PasswordHash is not { } stored)
        {
            hasher.VerifyHashedPassword(new PortalUser(), DecoyHash.Value, password);
            return false;
        }

        var result = hasher.VerifyHashedPassword(user, stored, password);
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            // Upgraded in place, only if no other request changed the hash meanwhile.
            var rehashed = hasher.HashPassword(user, password);
            await db.Users.Where(u => u.Id == user.Id && u.PasswordHash == stored)
                .ExecuteUpdateAsync(set => set.SetProperty(u => u.PasswordHash, rehashed), cancellationToken);
        }

        return result != PasswordVerificationResult.Failed;
    }
}

public enum PasswordCheckOutcome
{
    Succeeded,
    Invalid,
    LockedOut,
    RateLimited,
}

/// <param name="LockedUntil">When a locked-out account accepts passwords again.</param>
/// <param name="RetryAfter">How long a rate-limited caller should wait.</param>
public sealed record PasswordCheck(PasswordCheckOutcome Outcome, PortalUser? User, DateTimeOffset? LockedUntil = null, TimeSpan? RetryAfter = null)
{
    public static readonly PasswordCheck Invalid = new(PasswordCheckOutcome.Invalid, null);

    public static PasswordCheck Locked(DateTimeOffset until) => new(PasswordCheckOutcome.LockedOut, null, until);

    public static PasswordCheck Limited(TimeSpan wait) => new(PasswordCheckOutcome.RateLimited, null, null, wait);
}
