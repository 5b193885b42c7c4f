using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Email;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.Passwords;

/// <summary>
/// Changing a password (signed in, confirmed recently, knowing the current one) and resetting a forgotten
/// one by an emailed link (Identity's reset token, <see cref="TimedTokenProvider.Lifetime"/>, once). Both rotate
/// the security stamp: a change keeps this browser and ends every other session and app token; a reset ends
/// them all and signs nobody in. Neither touches the second factor: the next login asks for it as before.
/// </summary>
public sealed class PasswordChanges(
    PortalDbContext db,
    UserManager<PortalUser> users,
    PasswordSignIn passwords,
    RecentConfirmation confirmation,
    AccountSecurity accountSecurity,
    AttemptRateLimiter rateLimiter,
    SecurityEvents events,
    EmailOutbox outbox,
    EmailTemplate template,
    EmailLinks links,
    ILogger<PasswordChanges> logger)
{
    public const string ResetPurpose = "ResetPassword";
    public const string WrongCurrentPassword = "Your current password is not right.";
    public const string LinkNotValid = "This link has expired or was already used. Ask for a new one.";
    public const string Mismatch = "The new passwords do not match.";

    /// <summary>Changes the password of the signed-in account.</summary>
    /// <returns>Empty on success; otherwise the messages to show (Identity's password rules among them).</returns>
    public async Task<IReadOnlyList<string>> ChangeAsync(
        string userId, string? browserSessionId, string? currentPassword, string? newPassword, string? confirmPassword, IPAddress? clientIp,
        CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, browserSessionId, cancellationToken))
        {
            return [RecentConfirmation.Required];
        }

        if (newPassword != confirmPassword)
        {
            return [Mismatch];
        }

        var user = await db.Users.SingleOrDefaultAsync(u => u.Id == userId, cancellationToken);
        if (user is null || string.IsNullOrEmpty(newPassword))
        {
            return ["Choose a new password."];
        }

        var rules = await ValidateAsync(user, newPassword);
        if (rules.Count > 0)
        {
            return rules;
        }

        var check = await passwords.CheckForAccountAsync(userId, currentPassword, clientIp, cancellationToken);
        switch (check.Outcome)
        {
            case PasswordCheckOutcome.LockedOut:
                return [Login.LockedOutMessage];
            case PasswordCheckOutcome.RateLimited:
                return [AttemptMessages.RateLimited];
            case PasswordCheckOutcome.Invalid:
                return [WrongCurrentPassword];
        }

        var hash = users.PasswordHasher.HashPassword(user, newPassword);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(set => set.SetProperty(u => u.PasswordHash, hash), cancellationToken);
        await events.RecordAsync(userId, SecurityEventKind.PasswordChanged, cancellationToken: cancellationToken);
        await accountSecurity.RotateAsync(userId, browserSessionId, "password changed", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.PasswordChanged(logger, userId);
        return [];
    }

    /// <summary>
    /// "Forgot password": emails a reset link when <paramref name="email"/> belongs to an account. The caller
    /// answers the same whatever happened (no account enumeration); only the rate limit shows (per IP and address).
    /// </summary>
    /// <returns>False when rate limited; true otherwise, whether or not an email was sent.</returns>
    public async Task<bool> RequestResetAsync(string? email, IPAddress? clientIp, CancellationToken cancellationToken = default)
    {
        var normalized = users.NormalizeEmail((email ?? "").Trim());
        if (await rateLimiter.TryAcquireForEmailAsync(clientIp, normalized, cancellationToken) is not null)
        {
            return false;
        }

        var user = string.IsNullOrEmpty(normalized) ? null : await users.FindByEmailAsync(normalized);
        if (user?.Email is null)
        {
            return true;
        }

        var token = await users.GeneratePasswordResetTokenAsync(user);
        var link = links.Absolute($"{ResetPasswordPath}?user={Uri.EscapeDataString(user.Id)}&token={Uri.EscapeDataString(token)}");
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await events.RecordAsync(user.Id, SecurityEventKind.PasswordResetRequested, cancellationToken: cancellationToken);
        await outbox.EnqueueAsync(template.Create(
            user.Email,
            "Reset your password",
            [
                "Someone (we hope you) asked to reset the password of your account. The link below works once, for one hour.",
                "Resetting your password signs out every browser and app, and does not remove your passkeys or authenticator app: signing in still asks for them.",
                "If you did not ask for this, ignore this email: your password stays as it is.",
            ],
            new EmailAction("Choose a new password", link)), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.PasswordResetSent(logger, user.Id);
        return true;
    }

    /// <summary>Whether a reset link is still good, for the page to say so before anything is typed.</summary>
    public async Task<bool> IsResetLinkValidAsync(string? userId, string? token)
    {
        var user = string.IsNullOrEmpty(userId) || string.IsNullOrEmpty(token) ? null : await users.FindByIdAsync(userId);
        return user is not null && await users.VerifyUserTokenAsync(user, users.Options.Tokens.PasswordResetTokenProvider, UserManager<PortalUser>.ResetPasswordTokenPurpose, token!);
    }

    /// <summary>Sets a new password with a reset link's token; ends every session; signs nobody in.</summary>
    /// <returns>Empty on success; otherwise the messages to show.</returns>
    public async Task<IReadOnlyList<string>> ResetAsync(string? userId, string? token, string? newPassword, string? confirmPassword, CancellationToken cancellationToken = default)
    {
        var user = string.IsNullOrEmpty(userId) || string.IsNullOrEmpty(token) ? null : await users.FindByIdAsync(userId);
        if (user is null)
        {
            return [LinkNotValid];
        }

        if (newPassword != confirmPassword)
        {
            return [Mismatch];
        }

        if (string.IsNullOrEmpty(newPassword))
        {
            return ["Choose a new password."];
        }

        // The token is bound to the security stamp it was made with: it is checked, the new password hashed, and then
        // one conditional UPDATE stores the hash only while that stamp is still the account's, so the link works once
        // and the write lock is never held while hashing (parallel uses of one link must not time each other out).
        if (!await users.VerifyUserTokenAsync(user, users.Options.Tokens.PasswordResetTokenProvider, UserManager<PortalUser>.ResetPasswordTokenPurpose, token!))
        {
            return [LinkNotValid];
        }

        var rules = await ValidateAsync(user, newPassword);
        if (rules.Count > 0)
        {
            return rules;
        }

        var hash = users.PasswordHasher.HashPassword(user, newPassword);
        var stamp = user.SecurityStamp;
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var stored = await db.Users.Where(u => u.Id == user.Id && u.SecurityStamp == stamp)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.PasswordHash, hash), cancellationToken);
        if (stored != 1)
        {
            // Another use of this link (or any change of the account's security) came first.
            return [LinkNotValid];
        }

        await events.RecordAsync(user.Id, SecurityEventKind.PasswordReset, cancellationToken: cancellationToken);
        await accountSecurity.RotateAsync(user.Id, null, "password reset", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.PasswordReset(logger, user.Id);
        return [];
    }

    public const string ResetPasswordPath = "/account/reset-password";

    private async Task<IReadOnlyList<string>> ValidateAsync(PortalUser user, string password)
    {
        var errors = new List<string>();
        foreach (var validator in users.PasswordValidators)
        {
            var result = await validator.ValidateAsync(users, user, password);
            errors.AddRange(result.Errors.Select(e => e.Description));
        }

        return errors;
    }
}
