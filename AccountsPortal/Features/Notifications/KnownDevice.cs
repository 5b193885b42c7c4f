using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Notifications;

/// <summary>
/// A browser (by the hash of its long-lived device cookie) or an app (by client id) that has signed in to an
/// account before: a sign-in from anything else is "not seen before" and the owner is told.
/// </summary>
public sealed class KnownDevice
{
    public long Id { get; set; }

    public required string UserId { get; set; }

    /// <summary>"browser:" and the SHA-256 of the device cookie (base64url), or "app:" and the client id.</summary>
    public required string DeviceKey { get; set; }

    public DateTimeOffset FirstSeenAt { get; set; }
}

internal sealed class KnownDeviceConfiguration : IEntityTypeConfiguration<KnownDevice>
{
    public void Configure(EntityTypeBuilder<KnownDevice> builder)
    {
        builder.Property(device => device.DeviceKey).HasMaxLength(160);
        builder.HasIndex(device => new { device.UserId, device.DeviceKey }).IsUnique();
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(device => device.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
