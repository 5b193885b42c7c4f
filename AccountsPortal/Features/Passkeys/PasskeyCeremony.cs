using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The server-side state of one WebAuthn ceremony: the options (and so the challenge) handed to the
/// browser. Kept in the database so any node can finish it; consumed exactly once.
/// </summary>
public sealed class PasskeyCeremony
{
    public required string Id { get; set; }

    public CeremonyPurpose Purpose { get; set; }

    public required string UserId { get; set; }

    /// <summary>The session the challenge belongs to: the login session (login) or the browser session ("Confirm it's you").</summary>
    public string? LoginSessionId { get; set; }

    public required string OptionsJson { get; set; }

    /// <summary>The challenge in the options, base64url: how an app's answer finds its ceremony.</summary>
    public required string Challenge { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? ConsumedAt { get; set; }
}

public enum CeremonyPurpose
{
    Registration = 0,
    Login = 1,

    /// <summary>"Confirm it's you" before a security change; bound to the browser session.</summary>
    Confirmation = 2,
}

internal sealed class PasskeyCeremonyConfiguration : IEntityTypeConfiguration<PasskeyCeremony>
{
    public void Configure(EntityTypeBuilder<PasskeyCeremony> builder)
    {
        builder.Property(ceremony => ceremony.Id).HasMaxLength(64);
        builder.Property(ceremony => ceremony.Purpose).HasConversion<string>().HasMaxLength(16);
        builder.Property(ceremony => ceremony.LoginSessionId).HasMaxLength(64);
        builder.Property(ceremony => ceremony.Challenge).HasMaxLength(128);
        builder.HasIndex(ceremony => ceremony.ExpiresAt);
        builder.HasIndex(ceremony => new { ceremony.LoginSessionId, ceremony.Challenge });
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(ceremony => ceremony.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
