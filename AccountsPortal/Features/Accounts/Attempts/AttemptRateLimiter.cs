using System.Net;
using System.Threading.RateLimiting;
using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>
/// Fixed-window limits per IP address and per account for every attempt on a secret, whichever way it comes in (form
/// post, Blazor circuit action, API): the services that evaluate guesses call it, since a circuit action is no HTTP
/// request that middleware could see. The per-account windows live in the database (<see cref="RateWindow"/>), so
/// every node counts against the same one; the per-IP windows are kept in each node's memory
/// (<see cref="IpRateLimiter"/>): behind a load balancer an address gets that many attempts on each node.
/// </summary>
public sealed class AttemptRateLimiter(PortalDbContext db, IpRateLimiter perIp, IOptions<RateLimitOptions> options, TimeProvider time)
{
    /// <summary>The length of a window.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>An attempt on the password of the account with this email, normalised by <c>UserManager.NormalizeEmail</c> as the account lookup does.</summary>
    /// <returns>Null when the attempt may go ahead; otherwise how long to wait.</returns>
    public Task<TimeSpan?> TryAcquireForEmailAsync(IPAddress? clientIp, string normalizedEmail, CancellationToken cancellationToken = default) =>
        TryAcquireAsync(clientIp, "email:" + normalizedEmail, cancellationToken);

    /// <summary>An attempt on a second factor (or a login session) of the account with this id; <paramref name="userId"/> null for an unknown one.</summary>
    /// <returns>Null when the attempt may go ahead; otherwise how long to wait.</returns>
    public Task<TimeSpan?> TryAcquireForAccountAsync(IPAddress? clientIp, string? userId, CancellationToken cancellationToken = default) =>
        TryAcquireAsync(clientIp, userId is null ? null : "account:" + userId, cancellationToken);

    /// <summary>
    /// Takes one permit for the IP address and one for the account. A caller with no known address (a circuit action
    /// whose page did not carry one) is limited per account only: one shared bucket for every such caller would let
    /// anyone exhaust it for everyone.
    /// </summary>
    private async Task<TimeSpan?> TryAcquireAsync(IPAddress? clientIp, string? accountKey, CancellationToken cancellationToken)
    {
        if (clientIp is not null && perIp.TryAcquire(clientIp) is { } ipWait)
        {
            return ipWait;
        }

        if (accountKey is null)
        {
            return null;
        }

        if (accountKey.Length > AttemptLimits.MaxKeyLength)
        {
            // Longer than any address an account can have: no account, and no row worth keeping for it.
            accountKey = accountKey[..AttemptLimits.MaxKeyLength];
        }

        var now = time.GetUtcNow();
        var windowOver = PortalDbContext.StoredInstant(now - Window);
        var stamp = PortalDbContext.StoredInstant(now);
        var limit = options.Value.AttemptsPerMinutePerAccount;

        // One statement takes the permit or changes nothing: a new key starts a window, an ended window starts again,
        // a window under its limit counts one more; a full window matches the WHERE of neither branch.
        var taken = await db.Database.ExecuteSqlInterpolatedAsync(
            $"""
            INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({accountKey}, {stamp}, 1)
            ON CONFLICT ("Key") DO UPDATE SET
                "Count" = CASE WHEN "RateWindows"."WindowStart" <= {windowOver} THEN 1 ELSE "RateWindows"."Count" + 1 END,
                "WindowStart" = CASE WHEN "RateWindows"."WindowStart" <= {windowOver} THEN {stamp} ELSE "RateWindows"."WindowStart" END
            WHERE "RateWindows"."WindowStart" <= {windowOver} OR "RateWindows"."Count" < {limit}
            """,
            cancellationToken);
        if (taken == 1)
        {
            return null;
        }

        var started = await db.Set<RateWindow>().AsNoTracking().Where(w => w.Key == accountKey)
            .Select(w => (DateTimeOffset?)w.WindowStart).SingleOrDefaultAsync(cancellationToken);
        var wait = started is { } start ? start + Window - now : Window;
        return wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1);
    }
}

/// <summary>
/// The per-IP half of <see cref="AttemptRateLimiter"/>: fixed windows of <see cref="AttemptRateLimiter.Window"/> in this
/// node's memory, <see cref="RateLimitOptions.RequestsPerMinutePerIp"/> attempts each.
/// </summary>
public sealed class IpRateLimiter(IOptions<RateLimitOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> limiter = PartitionedRateLimiter.Create<string, string>(key =>
        RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.RequestsPerMinutePerIp,
            Window = AttemptRateLimiter.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Takes a permit for <paramref name="clientIp"/> (its IPv6 /64, <see cref="ClientAddress"/>): null when taken; otherwise how long to wait.</summary>
    public TimeSpan? TryAcquire(IPAddress clientIp)
    {
        using var lease = limiter.AttemptAcquire(ClientAddress.PartitionKey(clientIp));
        return lease.IsAcquired ? null
            : lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : AttemptRateLimiter.Window;
    }

    public void Dispose() => limiter.Dispose();
}

/// <summary>What every way in says when an attempt is over a rate limit.</summary>
public static class AttemptMessages
{
    public const string RateLimited = "Too many attempts. Wait a minute and try again.";
}
