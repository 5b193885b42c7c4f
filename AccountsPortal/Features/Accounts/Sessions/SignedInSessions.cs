using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>
/// Apps signed in to an account, as a feature reports them to the sessions page: the app API's tokens (Apps) and the
/// OpenID Connect clients' grants (Oidc). Each provider owns the keys it lists and ignores the others'.
/// </summary>
public interface ISignedInApps
{
    Task<IReadOnlyList<SignedInEntry>> ListAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Signs out the app listed under <paramref name="key"/>; false when it is not this provider's, or already signed out.</summary>
    Task<bool> SignOutAsync(string userId, string key, CancellationToken cancellationToken);

    /// <summary>Signs out every app of the account this provider knows, in the caller's transaction; returns how many.</summary>
    Task<int> SignOutAllAsync(string userId, CancellationToken cancellationToken);
}

/// <summary>One signed-in browser or app, as the sessions page lists it.</summary>
public sealed record SignedInEntry(string Key, string Name, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, bool IsCurrent);

/// <summary>The browsers and apps signed in to an account, and signing them out.</summary>
/// <remarks>Signing others out is a security change: it needs this browser's recent confirmation (<see cref="RecentConfirmation"/>).</remarks>
public sealed class SignedInSessions(
    PortalDbContext db, IEnumerable<ISignedInApps> apps, RecentConfirmation confirmation, TimeProvider time, Activity.SecurityEvents events, ILogger<SignedInSessions> logger)
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

    public async Task<IReadOnlyList<SignedInEntry>> AppsAsync(string userId, CancellationToken cancellationToken = default)
    {
        var entries = new List<SignedInEntry>();
        foreach (var provider in apps)
        {
            entries.AddRange(await provider.ListAsync(userId, cancellationToken));
        }

        return [.. entries.OrderByDescending(e => e.LastSeenAt)];
    }

    /// <summary>Signs out one browser of the account.</summary>
    /// <param name="currentSessionId">The browser asking, which must have confirmed it's the owner recently.</param>
    /// <returns>Null when signed out; <see cref="RecentConfirmation.Required"/> or "no longer signed in" otherwise.</returns>
    public async Task<string?> SignOutBrowserAsync(string userId, string sessionId, string? currentSessionId, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, currentSessionId, cancellationToken))
        {
            return RecentConfirmation.Required;
        }

        var name = await db.BrowserSessions.Where(s => s.Id == sessionId && s.UserId == userId).Select(s => s.UserAgent).SingleOrDefaultAsync(cancellationToken);
        var removed = await db.BrowserSessions.Where(s => s.Id == sessionId && s.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        if (removed == 1)
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, UserAgentName.Describe(name), cancellationToken);
            Activity.SecurityLog.BrowserSignedOut(logger, userId);
        }

        return removed == 1 ? null : NotSignedIn;
    }

    /// <summary>Signs out one app of the account; as <see cref="SignOutBrowserAsync"/>.</summary>
    /// <param name="key">The app's <see cref="SignedInEntry.Key"/>.</param>
    public async Task<string?> SignOutAppAsync(string userId, string key, string? currentSessionId, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, currentSessionId, cancellationToken))
        {
            return RecentConfirmation.Required;
        }

        var signedOut = false;
        foreach (var provider in apps)
        {
            signedOut |= await provider.SignOutAsync(userId, key, cancellationToken);
        }

        if (signedOut)
        {
            await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, "an app", cancellationToken);
        }

        return signedOut ? null : NotSignedIn;
    }

    /// <summary>Signs out every other browser and every app; the browser asking stays signed in. As <see cref="SignOutBrowserAsync"/>.</summary>
    public async Task<string?> SignOutEverywhereElseAsync(string userId, string? currentSessionId, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, currentSessionId, cancellationToken))
        {
            return RecentConfirmation.Required;
        }

        await db.BrowserSessions.Where(s => s.UserId == userId && s.Id != currentSessionId).ExecuteDeleteAsync(cancellationToken);
        foreach (var provider in apps)
        {
            await provider.SignOutAllAsync(userId, cancellationToken);
        }

        await events.RecordAsync(userId, Activity.SecurityEventKind.SignedOutElsewhere, "every other browser and app", cancellationToken);
        Activity.SecurityLog.SignedOutEverywhereElse(logger, userId);
        return null;
    }

    /// <summary>The browser or app was already signed out.</summary>
    public const string NotSignedIn = "That browser or app is no longer signed in.";

    /// <summary>Whether a browser session still exists: long-lived pages check this to notice a remote sign-out.</summary>
    public Task<bool> ExistsAsync(string sessionId, CancellationToken cancellationToken = default) =>
        db.BrowserSessions.AnyAsync(s => s.Id == sessionId, cancellationToken);
}
