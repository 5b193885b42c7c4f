using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>An account's authenticator app: its shared secret, encrypted with Data Protection, and the last time step it accepted.</summary>
public sealed class TotpAuthenticator
{
    public required string UserId { get; set; }

    public required string ProtectedSecret { get; set; }

    /// <summary>The newest 30-second step a code was accepted for; each step is accepted at most once.</summary>
    public long LastAcceptedStep { get; set; }

    public DateTimeOffset EnabledAt { get; set; }
}

internal sealed class TotpAuthenticatorConfiguration : IEntityTypeConfiguration<TotpAuthenticator>
{
    public void Configure(EntityTypeBuilder<TotpAuthenticator> builder)
    {
        builder.HasKey(totp => totp.UserId);
        builder.Property(totp => totp.ProtectedSecret).HasMaxLength(1024);
        builder.HasOne<PortalUser>().WithOne().HasForeignKey<TotpAuthenticator>(totp => totp.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
