using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>
/// One account's fixed rate-limit window (<see cref="AttemptRateLimiter"/>): how many attempts it took since the
/// window began. Kept in the database so that every node counts against the same window.
/// </summary>
public sealed class RateWindow
{
    /// <summary>What is limited: <c>email:{normalised email}</c> or <c>account:{userId}</c>; at most <see cref="AttemptLimits.MaxKeyLength"/> characters.</summary>
    public required string Key { get; set; }

    /// <summary>When the window began: its first attempt. The window lasts <see cref="AttemptRateLimiter.Window"/>.</summary>
    public DateTimeOffset WindowStart { get; set; }

    /// <summary>Attempts taken in the window, never more than <see cref="RateLimitOptions.AttemptsPerMinutePerAccount"/>.</summary>
    public int Count { get; set; }
}

internal sealed class RateWindowConfiguration : IEntityTypeConfiguration<RateWindow>
{
    public void Configure(EntityTypeBuilder<RateWindow> builder)
    {
        builder.HasKey(window => window.Key);
        builder.Property(window => window.Key).HasMaxLength(AttemptLimits.MaxKeyLength);
        builder.HasIndex(window => window.WindowStart);
    }
}
