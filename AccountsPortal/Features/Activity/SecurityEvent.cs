using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Activity;

/// <summary>Something that changed the security of an account, shown to its owner at /account/activity.</summary>
public sealed class SecurityEvent
{
    public long Id { get; set; }

    public required string UserId { get; set; }

    public SecurityEventKind Kind { get; set; }

    /// <summary>What it concerns (a passkey's name, an app's name), as plain text.</summary>
    public string? Detail { get; set; }

    public DateTimeOffset OccurredAt { get; set; }
}

public enum SecurityEventKind
{
    AccountCreated,
    SignedIn,
    PasswordRejected,
    AccountLockedOut,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyDeleted,
    PasskeyPossiblyCloned,
    AuthenticatorAppEnabled,
    AuthenticatorAppReconfigured,
    AuthenticatorAppDisabled,
    SecondFactorLockedOut,
    RecoveryKeyUsed,
    RecoveryKeyRegenerated,
    AppSignedIn,
    SignedOutElsewhere,
    SignInRefusedWhileLocked,
    SignInApprovalBlocked,
    OtherSessionsEnded,
    IdentityConfirmed,
    IdentityConfirmationFailed,
    PasswordChanged,
    PasswordReset,
    PasswordResetRequested,
    EmailChanged,
    EmailVerified,
    NewDeviceSignedIn,
}

internal sealed class SecurityEventConfiguration : IEntityTypeConfiguration<SecurityEvent>
{
    public void Configure(EntityTypeBuilder<SecurityEvent> builder)
    {
        builder.Property(e => e.Kind).HasConversion<string>().HasMaxLength(64);
        builder.Property(e => e.Detail).HasMaxLength(256);
        builder.HasIndex(e => new { e.UserId, e.OccurredAt });
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(e => e.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
