using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>Apps signed in to an account, as the Apps feature reports them to the sessions page.</summary>
public interface ISignedInApps
{
    Task<IReadOnlyList<SignedInEntry>> ListAsync(string userId, CancellationToken cancellationToken);

    Task<bool> SignOutAsync(string userId, long id, CancellationToken cancellationToken);

    Task<int> SignOutAllAsync(string userId, CancellationToken cancellationToken);
}

/// <summary>One signed-in browser or app, as the sessions page lists it.</summary>
public sealed record SignedInEntry(string Key, string Name, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, bool IsCurrent);

/// <summary>The browsers and apps signed in to an account, and signing them out.</summary>
public sealed class SignedInSessions(PortalDbContext db, ISignedInApps apps, TimeProvider time, Activity.SecurityEvents events, ILogger<SignedInSessions> logger)
{
    public async Task<IReadOnlyList<SignedInEntry>> BrowsersAsync(string userId, string? currentSessionId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var sessions = await db.BrowserSessions.AsNoTracking()
            .Where(s => s.UserId == userId && (s.ExpiresAt == null || s.ExpiresAt > now))
            .Select(s => new { s.Id, s.UserAgent, s.CreatedAt, s.LastSeenAt })
            .ToListAsync(cancellationToken);
        return [.. sessions
            .OrderByDescending(s => s.Id == currentSessionId).ThenByDescending(s => s.LastSeenAt)
            .Select(s => new SignedInEntry(s.Id, UserAgentName.Describe(s.UserAgent), s.CreatedAt, s.LastSeenAt, s.Id == currentSessionId))];
    }

    public Task<IReadOnlyList<SignedInEntry>> AppsAsync(string userId, CancellationToken cancellationToken = default) =>
        apps.ListAsync(userId, cancellationToken);

    public async Task<bool> SignOutBrowserAsync(string userId, string sessionId, CancellationToken cancellationToken = default)
    {
        var name = await db.BrowserSessions.Where(s => s.Id == sessionId && s.UserId == userId).Select(s => s.UserAgent).SingleOrDefaultAsync(cancellationToken);
        var removed = await db.BrowserSessions.Where(s => s.Id == sessionId && s.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        if (removed == 1)
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, UserAgentName.Describe(name), cancellationToken);
            logger.LogInformation("Browser session signed out by {UserId}", userId);
        }

        return removed == 1;
    }

    public async Task<bool> SignOutAppAsync(string userId, long appTokenId, CancellationToken cancellationToken = default)
    {
        var signedOut = await apps.SignOutAsync(userId, appTokenId, cancellationToken);
        if (signedOut)
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, "an app", cancellationToken);
        }

        return signedOut;
    }

    /// <summary>Signs out every other browser and every app; the browser asking stays signed in.</summary>
    public async Task SignOutEverywhereElseAsync(string userId, string? currentSessionId, CancellationToken cancellationToken = default)
    {
        await db.BrowserSessions.Where(s => s.UserId == userId && s.Id != currentSessionId).ExecuteDeleteAsync(cancellationToken);
        await apps.SignOutAllAsync(userId, cancellationToken);
        await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, "every other browser and app", cancellationToken);
        logger.LogInformation("{UserId} signed out everywhere else", userId);
    }

    /// <summary>Whether a browser session still exists: long-lived pages check this to notice a remote sign-out.</summary>
    public Task<bool> ExistsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        db.BrowserSessions.AnyAsync(s => s.Id == sessionId, cancellationToken);
}
