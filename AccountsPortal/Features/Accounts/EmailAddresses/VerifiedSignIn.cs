using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.EmailAddresses;

/// <summary>
/// What a verified sign-up (or the sign-in of an unverified account) leads to: the address is marked verified,
/// the recovery key is issued if the account has none yet (and shown once after sign-in), and the browser goes
/// on through a normal login session — to the second factor, if the account has one, then the completion endpoint.
/// </summary>
public sealed class VerifiedSignIn(
    PortalDbContext db,
    UserManager<PortalUser> users,
    RecoveryKeyService recoveryKeys,
    RecoveryKeyHandoff handoff,
    LoginSessionService loginSessions,
    Activity.SecurityEvents events)
{
    /// <returns>Where the browser goes next, or null when the account's address changed meanwhile.</returns>
    public async Task<string?> ContinueAsync(HttpContext context, VerificationResult verified, CancellationToken cancellationToken = default)
    {
        var userId = verified.UserId!;
        var normalized = users.NormalizeEmail(verified.Email);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var marked = await db.Users.Where(u => u.Id == userId && u.NormalizedEmail == normalized)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.EmailConfirmed, true), cancellationToken);
        if (marked != 1)
        {
            return null;
        }

        await events.RecordAsync(userId, Activity.SecurityEventKind.EmailVerified, verified.Email, cancellationToken);
        var words = await db.RecoveryKeys.AnyAsync(k => k.UserId == userId, cancellationToken) ? null : await recoveryKeys.IssueAsync(userId, cancellationToken);

        var returnUrl = verified.ReturnUrl ?? LocalReturnUrl.Default;
        // The key is shown on a page rendered for the signed-in account (its forms' antiforgery tokens are bound to the user).
        var next = words is null ? returnUrl : handoff.Hand(context, userId, words, returnUrl);
        var login = await loginSessions.StartAsync(userId, next, requester: LoginRequester.From(context), cancellationToken: cancellationToken);
        PendingLoginCookie.Append(context, login);
        EmailVerifications.DeleteCookie(context);
        // The key, the verified address and the login session that leads to showing the key commit together: a new key
        // is never stored without the way to see it (a failed commit drops the cookies set above with the response).
        await transaction.CommitAsync(cancellationToken);
        return login.NextUrl;
    }
}
