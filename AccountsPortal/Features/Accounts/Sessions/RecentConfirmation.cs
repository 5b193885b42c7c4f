using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>
/// Whether a browser session confirmed recently that it is the account's owner. Kept on the session's
/// row (<see cref="BrowserSession.ConfirmedAt"/>), never only in a circuit's memory, so that every way in
/// (form post, circuit action) and every node sees the same answer. Services that make security changes
/// ask <see cref="IsFreshAsync"/> before they change anything.
/// </summary>
public sealed class RecentConfirmation(PortalDbContext db, IOptions<SecurityOptions> options, TimeProvider time)
{
    /// <summary>What a service answers when the browser must confirm first.</summary>
    public const string Required = "Confirm it's you first: this change needs a recent confirmation.";

    /// <summary>True when <paramref name="browserSessionId"/> is a session of <paramref name="userId"/> confirmed within <see cref="SecurityOptions.ReauthenticationWindow"/>.</summary>
    public Task<bool> IsFreshAsync(string userId, string? browserSessionId, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(browserSessionId))
        {
            return Task.FromResult(false);
        }

        var since = time.GetUtcNow() - options.Value.ReauthenticationWindow;
        return db.BrowserSessions.AnyAsync(s => s.Id == browserSessionId && s.UserId == userId && s.ConfirmedAt >= since, cancellationToken);
    }

    /// <summary>Records a confirmation now; false when the session is not the account's (signed out meanwhile).</summary>
    public async Task<bool> MarkAsync(string userId, string browserSessionId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        return await db.BrowserSessions.Where(s => s.Id == browserSessionId && s.UserId == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.ConfirmedAt, now), cancellationToken) == 1;
    }
}
