using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>
/// Fixed-window limits per IP address and per account for every attempt on a secret, whichever way it
/// comes in (form post, Blazor circuit action, API): the services that evaluate guesses call it, since a
/// circuit action is no HTTP request that middleware could see. Windows are kept in this node's memory.
/// </summary>
public sealed class AttemptRateLimiter(IOptions<RateLimitOptions> options) : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly PartitionedRateLimiter<string> perIp = Create(options.Value.RequestsPerMinutePerIp);
    private readonly PartitionedRateLimiter<string> perAccount = Create(options.Value.AttemptsPerMinutePerAccount);

    /// <summary>An attempt on the password of the account with this email, normalised by <c>UserManager.NormalizeEmail</c> as the account lookup does.</summary>
    /// <returns>Null when the attempt may go ahead; otherwise how long to wait.</returns>
    public TimeSpan? TryAcquireForEmail(IPAddress? clientIp, string normalizedEmail) => TryAcquire(clientIp, "email:" + normalizedEmail);

    /// <summary>An attempt on a second factor (or a login session) of the account with this id; <paramref name="userId"/> null for an unknown one.</summary>
    /// <returns>Null when the attempt may go ahead; otherwise how long to wait.</returns>
    public TimeSpan? TryAcquireForAccount(IPAddress? clientIp, string? userId) => TryAcquire(clientIp, userId is null ? null : "account:" + userId);

    /// <summary>
    /// Takes one permit for the IP address and one for the account. A caller with no known address (a
    /// circuit action whose page did not carry one) is limited per account only: one shared bucket for
    /// every such caller would let anyone exhaust it for everyone.
    /// </summary>
    private TimeSpan? TryAcquire(IPAddress? clientIp, string? accountKey)
    {
        if (clientIp is not null)
        {
            using var ipLease = perIp.AttemptAcquire(clientIp.ToString());
            if (!ipLease.IsAcquired)
            {
                return RetryAfter(ipLease);
            }
        }

        if (accountKey is null)
        {
            return null;
        }

        using var accountLease = perAccount.AttemptAcquire(accountKey);
        return accountLease.IsAcquired ? null : RetryAfter(accountLease);
    }

    private static TimeSpan RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : Window;

    private static PartitionedRateLimiter<string> Create(int permits) =>
        PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = permits,
                Window = Window,
                QueueLimit = 0,
                AutoReplenishment = true,
            }));

    public void Dispose()
    {
        perIp.Dispose();
        perAccount.Dispose();
    }
}

/// <summary>What every way in says when an attempt is over a rate limit.</summary>
public static class AttemptMessages
{
    public const string RateLimited = "Too many attempts. Wait a minute and try again.";
}
