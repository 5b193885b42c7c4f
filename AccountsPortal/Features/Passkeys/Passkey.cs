using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Passkeys;

/// <summary>A WebAuthn credential registered as a second factor.</summary>
public sealed class Passkey
{
    public long Id { get; set; }

    public required string UserId { get; set; }

    /// <summary>The authenticator's credential id; unique across all accounts.</summary>
    public required byte[] CredentialId { get; set; }

    /// <summary>The COSE-encoded public key.</summary>
    public required byte[] PublicKey { get; set; }

    public long SignCount { get; set; }

    public required string Name { get; set; }

    public Guid Aaguid { get; set; }

    /// <summary>Transports the authenticator reported ("internal", "usb", "hybrid", ...), comma-separated.</summary>
    public string? Transports { get; set; }

    public bool IsBackupEligible { get; set; }

    /// <summary>
    /// Whether the authenticator stored the credential as discoverable (a "resident key"), as the browser reported in
    /// the <c>credProps</c> extension at registration (WebAuthn L3 §10.1.3): only such a passkey can sign in without a
    /// password. Null when the browser did not say (and for passkeys added before the portal asked).
    /// </summary>
    public bool? IsDiscoverable { get; set; }

    public bool IsBackedUp { get; set; }

    /// <summary>Set when an assertion's counter did not increase: the key may have been copied.</summary>
    public bool PossiblyCloned { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? LastUsedAt { get; set; }
}

internal sealed class PasskeyConfiguration : IEntityTypeConfiguration<Passkey>
{
    public void Configure(EntityTypeBuilder<Passkey> builder)
    {
        builder.HasIndex(passkey => passkey.CredentialId).IsUnique();
        builder.HasIndex(passkey => passkey.UserId);
        builder.Property(passkey => passkey.CredentialId).HasMaxLength(1023);
        builder.Property(passkey => passkey.PublicKey).HasMaxLength(2048);
        builder.Property(passkey => passkey.Name).HasMaxLength(256);
        builder.Property(passkey => passkey.Transports).HasMaxLength(128);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(passkey => passkey.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
