using System.ComponentModel.DataAnnotations;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Sessions;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.EmailAddresses;

/// <summary>
/// Changing an account's email address: a recent confirmation ("Confirm it's you"), then a code sent to the new
/// address proves it is read; only then is the address stored. The old address is told (the event is recorded
/// before the change, so its email goes there), the security stamp rotates (other sessions end; this browser stays).
/// </summary>
public sealed class EmailChanges(
    PortalDbContext db,
    UserManager<PortalUser> users,
    RecentConfirmation confirmation,
    EmailVerifications verifications,
    AccountSecurity accountSecurity,
    Attempts.AttemptRateLimiter rateLimiter,
    Activity.SecurityEvents events,
    ILogger<EmailChanges> logger)
{
    public const string InvalidAddress = "Enter a valid email address.";
    public const string SameAddress = "That is already your account's address.";
    public const string Taken = "This address cannot be used for your account.";

    /// <summary>Sends a code to <paramref name="newEmail"/>; returns the browser's verification secret, or the reason it was refused.</summary>
    public async Task<(string? Secret, DateTimeOffset ExpiresAt, string? Error)> StartAsync(
        string userId, string? browserSessionId, string? newEmail, System.Net.IPAddress? clientIp, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, browserSessionId, cancellationToken))
        {
            return (null, default, RecentConfirmation.Required);
        }

        var email = (newEmail ?? "").Trim().Normalize(System.Text.NormalizationForm.FormC);
        if (email.Length is 0 or > 256 || !new EmailAddressAttribute().IsValid(email))
        {
            return (null, default, InvalidAddress);
        }

        var normalized = users.NormalizeEmail(email);
        if (await db.Users.AnyAsync(u => u.Id == userId && u.NormalizedEmail == normalized, cancellationToken))
        {
            return (null, default, SameAddress);
        }

        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, userId, cancellationToken) is not null || await rateLimiter.TryAcquireForEmailAsync(clientIp, normalized, cancellationToken) is not null)
        {
            return (null, default, Attempts.AttemptMessages.RateLimited);
        }

        var (secret, expiresAt) = await verifications.StartAsync(EmailVerificationPurpose.ChangeEmail, userId, email, null, cancellationToken);
        return (secret, expiresAt, null);
    }

    /// <summary>Stores the new address once its code is entered. Null on success; otherwise the reason.</summary>
    public async Task<string?> CompleteAsync(string userId, string? browserSessionId, string? secret, string? code, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, browserSessionId, cancellationToken))
        {
            return RecentConfirmation.Required;
        }

        // Only a code of an email change is looked at: VerifyAsync filters by purpose.
        var verified = await verifications.VerifyAsync(secret, code, [EmailVerificationPurpose.ChangeEmail], cancellationToken);
        if (!verified.Succeeded || verified.UserId != userId)
        {
            return verified.Error ?? EmailVerifications.Expired;
        }

        var email = verified.Email!;
        var normalized = users.NormalizeEmail(email);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (await db.Users.AnyAsync(u => u.NormalizedEmail == normalized && u.Id != userId, cancellationToken))
        {
            // The person reads that mailbox (the code came from it): telling them it has an account reveals nothing new.
            return Taken;
        }

        // Recorded first: the owner's notification goes to the address being left.
        await events.RecordAsync(userId, Activity.SecurityEventKind.EmailChanged, email, cancellationToken);
        try
        {
            await StoreAsync(userId, email, normalized, cancellationToken);
        }
        catch (Exception exception) when (Data.DatabaseFailures.IsUniqueViolation(exception))
        {
            // Taken by a sign-up a moment ago: the unique index on the user name refuses it.
            return Taken;
        }

        await accountSecurity.RotateAsync(userId, browserSessionId, "email address changed", cancellationToken, new Dictionary<string, string>
        {
            [System.Security.Claims.ClaimTypes.Name] = email,
            [System.Security.Claims.ClaimTypes.Email] = email,
        });
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.EmailChanged(logger, userId);
        return null;
    }

    private Task<int> StoreAsync(string userId, string email, string normalized, CancellationToken cancellationToken) =>
        db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(set => set
            .SetProperty(u => u.Email, email)
            .SetProperty(u => u.NormalizedEmail, normalized)
            .SetProperty(u => u.UserName, email)
            .SetProperty(u => u.NormalizedUserName, users.NormalizeName(email))
            .SetProperty(u => u.EmailConfirmed, true), cancellationToken);
}
