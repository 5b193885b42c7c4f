using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Activity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts;

/// <summary>
/// Rotates an account's security stamp when its factors, recovery key or password change: every other
/// browser session and every app token ends, pending logins verified against the old factors can no
/// longer complete, and the browser that made the change (if any) stays signed in with the new stamp.
/// </summary>
public sealed class AccountSecurity(
    PortalDbContext db,
    BrowserSessionStore browserSessions,
    IEnumerable<ISignedInApps> apps,
    SecurityEvents events,
    ILogger<AccountSecurity> logger)
{
    /// <summary>
    /// Rotates the stamp in the caller's transaction, if any. Returns the new stamp.
    /// </summary>
    /// <param name="keepBrowserSessionId">The browser session that made the change; it stays signed in.</param>
    /// <param name="reason">What changed, for the owner's activity list ("passkey added").</param>
    /// <param name="keptClaims">Claims to replace in the kept session's ticket (after an email change: its name and email).</param>
    public async Task<string> RotateAsync(
        string userId, string? keepBrowserSessionId, string reason, CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? keptClaims = null)
    {
        var stamp = Guid.NewGuid().ToString("N").ToUpperInvariant();
        var concurrencyStamp = Guid.NewGuid().ToString();
        await db.Users.Where(u => u.Id == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.SecurityStamp, stamp).SetProperty(u => u.ConcurrencyStamp, concurrencyStamp), cancellationToken);

        var endedBrowsers = await db.BrowserSessions.Where(s => s.UserId == userId && s.Id != keepBrowserSessionId).ExecuteDeleteAsync(cancellationToken);
        if (keepBrowserSessionId is not null)
        {
            await browserSessions.RestampAsync(db, keepBrowserSessionId, userId, stamp, cancellationToken, keptClaims);
        }

        var endedApps = 0;
        foreach (var provider in apps)
        {
            endedApps += await provider.SignOutAllAsync(userId, cancellationToken);
        }

        // Codes emailed before the change (a sign-in's, another email change's) die with the old stamp.
        await db.EmailVerifications.Where(v => v.UserId == userId && v.ConsumedAt == null).ExecuteDeleteAsync(cancellationToken);
        if (endedBrowsers + endedApps > 0)
        {
            await events.RecordAsync(userId, SecurityEventKind.OtherSessionsEnded, reason, cancellationToken);
        }

        SecurityLog.SecurityStampRotated(logger, userId, reason, endedBrowsers, endedApps);
        return stamp;
    }
}
