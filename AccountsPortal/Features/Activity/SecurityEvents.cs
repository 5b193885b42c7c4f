using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Activity;

/// <summary>Records security events and reads an account's recent ones; observers (the owner's notifications) hear of each.</summary>
public sealed class SecurityEvents(PortalDbContext db, TimeProvider time, IEnumerable<ISecurityEventObserver> observers, ILogger<SecurityEvents> logger)
{
    public const int MaxDetailLength = 256;
    public const int PageSize = 50;

    public async Task RecordAsync(string userId, SecurityEventKind kind, string? detail = null, CancellationToken cancellationToken = default)
    {
        var securityEvent = new SecurityEvent
        {
            UserId = userId,
            Kind = kind,
            Detail = StoredText.Truncate(detail, MaxDetailLength),
            OccurredAt = time.GetUtcNow(),
        };
        // Raw SQL (the INSERT EF Core made for the entity): events are written inside the write transactions of
        // sign-ins, where change tracking's cost was time the write lock was held.
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO "SecurityEvents" ("UserId", "Kind", "Detail", "OccurredAt")
            VALUES ({securityEvent.UserId}, {securityEvent.Kind.ToString()}, {securityEvent.Detail}, {PortalDbContext.StoredInstant(securityEvent.OccurredAt)})
            """, cancellationToken);
        SecurityLog.Recorded(logger, securityEvent);
        foreach (var observer in observers)
        {
            await observer.OnRecordedAsync(securityEvent, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<SecurityEvent>> RecentAsync(string userId, CancellationToken cancellationToken = default) =>
        await db.SecurityEvents.AsNoTracking().Where(e => e.UserId == userId).OrderByDescending(e => e.Id).Take(PageSize).ToListAsync(cancellationToken);

    public static string Describe(SecurityEvent securityEvent) => securityEvent.Kind switch
    {
        SecurityEventKind.AccountCreated => "Account created",
        SecurityEventKind.SignedIn => $"Signed in{With(securityEvent.Detail)}",
        SecurityEventKind.PasswordRejected => "Wrong password entered",
        SecurityEventKind.AccountLockedOut => "Sign-in locked after repeated wrong passwords",
        SecurityEventKind.PasskeyAdded => $"Passkey added: {securityEvent.Detail}",
        SecurityEventKind.PasskeyRenamed => $"Passkey renamed: {securityEvent.Detail}",
        SecurityEventKind.PasskeyDeleted => $"Passkey deleted: {securityEvent.Detail}",
        SecurityEventKind.PasskeyPossiblyCloned => $"Passkey may have been copied: {securityEvent.Detail}",
        SecurityEventKind.AuthenticatorAppEnabled => "Authenticator app turned on",
        SecurityEventKind.AuthenticatorAppReconfigured => "Authenticator app replaced",
        SecurityEventKind.AuthenticatorAppDisabled => "Authenticator app turned off",
        SecurityEventKind.SecondFactorLockedOut => "Two-factor locked after repeated wrong codes or recovery keys",
        SecurityEventKind.RecoveryKeyUsed => "Recovery key used to sign in; a new one was issued",
        SecurityEventKind.RecoveryKeyRegenerated => "New recovery key generated",
        SecurityEventKind.AppSignedIn => $"Signed in to {securityEvent.Detail}",
        SecurityEventKind.SignedOutElsewhere => $"Signed out: {securityEvent.Detail}",
        SecurityEventKind.SignInRefusedWhileLocked => "Sign-in attempt refused: the account was locked",
        SecurityEventKind.SignInApprovalBlocked => $"Blocked a sign-in approval from {securityEvent.Detail}",
        SecurityEventKind.OtherSessionsEnded => $"Every other browser and app was signed out: {securityEvent.Detail}",
        SecurityEventKind.IdentityConfirmed => $"Confirmed it's you{With(securityEvent.Detail)}",
        SecurityEventKind.IdentityConfirmationFailed => $"Failed to confirm it's you{With(securityEvent.Detail)}",
        SecurityEventKind.PasswordChanged => "Password changed",
        SecurityEventKind.PasswordReset => "Password reset by email",
        SecurityEventKind.PasswordResetRequested => "Password reset link sent by email",
        SecurityEventKind.EmailChanged => $"Email address changed{To(securityEvent.Detail)}",
        SecurityEventKind.EmailVerified => $"Email address verified: {securityEvent.Detail}",
        SecurityEventKind.NewDeviceSignedIn => $"Signed in from a browser or app not seen before: {securityEvent.Detail}",
        _ => securityEvent.Kind.ToString(),
    };

    private static string With(string? detail) => detail is null ? "" : $" with {detail}";

    private static string To(string? detail) => detail is null ? "" : $" to {detail}";
}
