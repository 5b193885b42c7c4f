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

/// <summary>
/// What happened. Stored by name; the numbers are fixed (never reordered or reused) because logs carry them as event ids
/// (<see cref="SecurityLog.SecurityEventBase"/> + the number).
/// </summary>
public enum SecurityEventKind
{
    AccountCreated = 0,
    SignedIn = 1,
    PasswordRejected = 2,
    AccountLockedOut = 3,
    PasskeyAdded = 4,
    PasskeyRenamed = 5,
    PasskeyDeleted = 6,
    PasskeyPossiblyCloned = 7,
    AuthenticatorAppEnabled = 8,
    AuthenticatorAppReconfigured = 9,
    AuthenticatorAppDisabled = 10,
    SecondFactorLockedOut = 11,
    RecoveryKeyUsed = 12,
    RecoveryKeyRegenerated = 13,
    AppSignedIn = 14,
    SignedOutElsewhere = 15,
    SignInRefusedWhileLocked = 16,
    SignInApprovalBlocked = 17,
    OtherSessionsEnded = 18,
    IdentityConfirmed = 19,
    IdentityConfirmationFailed = 20,
    PasswordChanged = 21,
    PasswordReset = 22,
    PasswordResetRequested = 23,
    EmailChanged = 24,
    EmailVerified = 25,
    NewDeviceSignedIn = 26,
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
