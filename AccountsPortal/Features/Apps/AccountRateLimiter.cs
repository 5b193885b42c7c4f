using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>
/// Per-account limits for the app API, on top of the per-IP policy: the account is known only once
/// the request body is read, after the rate-limiting middleware has run.
/// </summary>
public sealed class AccountRateLimiter(IOptions<AppsOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> limiter = PartitionedRateLimiter.Create<string, string>(account =>
        RateLimitPartition.GetFixedWindowLimiter(account, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.RequestsPerMinutePerAccount,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Null when the attempt may go ahead; otherwise how long to wait.</summary>
    public TimeSpan? TryAcquire(string account)
    {
        using var lease = limiter.AttemptAcquire(account.ToUpperInvariant());
        if (lease.IsAcquired)
        {
            return null;
        }

        return lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
    }

    public void Dispose() => limiter.Dispose();
}
