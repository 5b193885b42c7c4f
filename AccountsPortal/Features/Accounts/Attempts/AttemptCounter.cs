using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>
/// The guesses made against one secret of one account (its password, or its second factors) in the
/// current window. An attempt is reserved here before the guess is evaluated, so that no number of
/// parallel requests gets more guesses evaluated than the limit allows.
/// </summary>
public sealed class AttemptCounter
{
    /// <summary>What is counted, e.g. <c>password:KATE@EXAMPLE.COM</c> or <c>second-factor:{userId}</c>.</summary>
    public required string Key { get; set; }

    /// <summary>Attempts reserved in the window: evaluated ones and those still being evaluated.</summary>
    public int Reserved { get; set; }

    /// <summary>Wrong guesses in the window; the one that reaches the limit locks the key.</summary>
    public int Failures { get; set; }

    /// <summary>When the window began: its first attempt.</summary>
    public DateTimeOffset WindowStart { get; set; }

    /// <summary>Until when attempts are refused without being evaluated; null while not locked.</summary>
    public DateTimeOffset? LockedUntil { get; set; }
}

internal sealed class AttemptCounterConfiguration : IEntityTypeConfiguration<AttemptCounter>
{
    public void Configure(EntityTypeBuilder<AttemptCounter> builder)
    {
        builder.HasKey(counter => counter.Key);
        builder.Property(counter => counter.Key).HasMaxLength(AttemptLimits.MaxKeyLength);
        builder.HasIndex(counter => counter.WindowStart);
    }
}
