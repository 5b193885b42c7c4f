using System.Globalization;
using AccountsPortal.Data;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Email;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Notifications;

/// <summary>
/// Emails the account's owner when something happens to its security: factors added or removed, the
/// recovery key used or replaced, the password or email changed or reset, a lockout, a refused sign-in
/// approval, a sign-in from a browser or app not seen before. Each email says what happened, when, from
/// which browser or app and IP address, and what to do if it was not them. Queued in the outbox in the
/// same transaction as the event (<see cref="ISecurityEventObserver"/>), so it is sent exactly when the
/// change is committed and never blocks it.
/// </summary>
public sealed class SecurityNotifications(
    PortalDbContext db, EmailOutbox outbox, EmailTemplate template, EmailLinks links, ActorContext actors) : ISecurityEventObserver
{
    private const string NotYou =
        "If this wasn't you, someone may know your password: sign in, change your password, review your passkeys and "
        + "authenticator app, and sign out every other browser and app. If you cannot sign in, use your recovery key "
        + "(\"Recover two-factor\" after the password step).";

    private const string NotYouLocked =
        "If this wasn't you, someone is trying to guess your password or codes. Nothing was changed; the lock ends by itself. "
        + "Consider changing your password once you are signed in.";

    /// <summary>Subject and first paragraph for each event kind that is emailed; null for the others.</summary>
    public static (string Subject, string What)? Describe(SecurityEventKind kind, string? detail) => kind switch
    {
        SecurityEventKind.PasskeyAdded => ("A passkey was added to your account", $"A passkey named \"{detail}\" was added to your account."),
        SecurityEventKind.PasskeyDeleted => ("A passkey was deleted from your account", $"The passkey \"{detail}\" was deleted from your account."),
        SecurityEventKind.AuthenticatorAppEnabled => ("Your authenticator app was turned on", "Sign-in now asks for a code from an authenticator app."),
        SecurityEventKind.AuthenticatorAppReconfigured => ("Your authenticator app was replaced", "A new authenticator app replaced the one your account used; the old one no longer works."),
        SecurityEventKind.AuthenticatorAppDisabled => ("Your authenticator app was turned off", "Sign-in no longer asks for a code from an authenticator app."),
        SecurityEventKind.RecoveryKeyUsed => ("Your recovery key was used", "Your recovery key was used and replaced by a new one. Every other browser and app was signed out."),
        SecurityEventKind.RecoveryKeyRegenerated => ("A new recovery key was generated", "A new recovery key was generated for your account; the old one no longer works."),
        SecurityEventKind.PasswordChanged => ("Your password was changed", "The password of your account was changed. Every other browser and app was signed out."),
        SecurityEventKind.PasswordReset => ("Your password was reset", "The password of your account was reset with a link sent to this address. Every browser and app was signed out; your second factor is unchanged."),
        SecurityEventKind.EmailChanged => ("Your email address was changed", $"The email address of your account was changed to {detail}. Emails about your account now go there."),
        SecurityEventKind.AccountLockedOut => ("Sign-in to your account was locked", "Too many wrong passwords were entered for your account, so sign-in is locked for a while."),
        SecurityEventKind.SecondFactorLockedOut => ("Two-factor for your account was locked", "Too many wrong codes or recovery keys were entered for your account, so they are refused for a while."),
        SecurityEventKind.SignInApprovalBlocked => ("A sign-in to your account was blocked", $"A device asked to approve a sign-in to your account picked the wrong number or said it wasn't you, so the sign-in from {detail} was refused."),
        SecurityEventKind.NewDeviceSignedIn => ("New sign-in to your account", $"Your account was signed in to from a browser or app not seen before: {detail}."),
        _ => null,
    };

    public async Task OnRecordedAsync(SecurityEvent securityEvent, CancellationToken cancellationToken)
    {
        if (Describe(securityEvent.Kind, securityEvent.Detail) is not { } described)
        {
            return;
        }

        // An email change is told to the address it left: the event is recorded before the new address is stored.
        // Only verified addresses are written to: an address someone typed at sign-up and never proved gets nothing.
        var to = await db.Users.AsNoTracking().Where(u => u.Id == securityEvent.UserId && u.EmailConfirmed).Select(u => u.Email).SingleOrDefaultAsync(cancellationToken);
        if (string.IsNullOrEmpty(to))
        {
            return;
        }

        var actor = await actors.DescribeAsync(cancellationToken);
        var locked = securityEvent.Kind is SecurityEventKind.AccountLockedOut or SecurityEventKind.SecondFactorLockedOut or SecurityEventKind.SignInApprovalBlocked;
        var facts = new List<EmailFact>
        {
            new("When", securityEvent.OccurredAt.UtcDateTime.ToString("d MMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture)),
            new("Browser or app", actor.Device),
            new("IP address", actor.Ip ?? "unknown"),
        };
        var email = template.Create(
            to,
            described.Subject,
            [described.What, locked ? NotYouLocked : NotYou],
            new EmailAction("Review your account's activity", links.Absolute("/account/activity")),
            facts);
        await outbox.EnqueueAsync(email, cancellationToken);
    }
}
