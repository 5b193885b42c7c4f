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

/// <summary>Consecutive failed second-factor attempts of an account (codes and recovery keys), kept across logins and restarts.</summary>
public sealed class TwoFactorLockout
{
    public required string UserId { get; set; }

    public int FailedAttempts { get; set; }

    public DateTimeOffset? LockedUntil { get; set; }
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

internal sealed class TwoFactorLockoutConfiguration : IEntityTypeConfiguration<TwoFactorLockout>
{
    public void Configure(EntityTypeBuilder<TwoFactorLockout> builder)
    {
        builder.HasKey(lockout => lockout.UserId);
        builder.HasOne<PortalUser>().WithOne().HasForeignKey<TwoFactorLockout>(lockout => lockout.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
