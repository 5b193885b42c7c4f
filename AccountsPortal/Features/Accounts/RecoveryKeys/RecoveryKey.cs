using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.RecoveryKeys;

/// <summary>The current recovery key of an account. Only its SHA-256 hash is stored: the key itself is shown once.</summary>
public sealed class RecoveryKey
{
    public long Id { get; set; }

    public required string UserId { get; set; }

    /// <summary>SHA-256 of the 32 key bytes. The key has 256 bits of entropy, so a slow hash adds nothing.</summary>
    public required byte[] KeyHash { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class RecoveryKeyConfiguration : IEntityTypeConfiguration<RecoveryKey>
{
    public void Configure(EntityTypeBuilder<RecoveryKey> builder)
    {
        builder.HasIndex(key => key.UserId).IsUnique();
        builder.Property(key => key.KeyHash).HasMaxLength(32);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(key => key.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
