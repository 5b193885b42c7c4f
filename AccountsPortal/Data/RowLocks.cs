using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Data;

/// <summary>
/// Row locks for the few rules that read before they write (a limit on how many rows an account may have, one row
/// per account made or replaced): the first statement of such a transaction locks the row the rule belongs to, so
/// concurrent transactions for it run one after the other on every provider. On SQLite every transaction holds the
/// file's write lock from its start (Microsoft.Data.Sqlite begins them IMMEDIATE), so the lock adds nothing there; on
/// PostgreSQL (READ COMMITTED) it is what serialises them, and each later statement reads what the previous holder
/// committed. The lock is a no-op UPDATE, which both engines accept and which reports whether the row exists.
/// Take it first in the transaction, before any other row, so that transactions lock in one order and never deadlock.
/// </summary>
public static class RowLocks
{
    /// <summary>Locks the account's row until the current transaction ends.</summary>
    /// <returns>False when there is no such account.</returns>
    /// <exception cref="InvalidOperationException">No transaction is open: the lock would end with the statement.</exception>
    public static async Task<bool> LockAccountAsync(this PortalDbContext db, string userId, CancellationToken cancellationToken = default)
    {
        EnsureTransaction(db);
        return await db.Users.Where(u => u.Id == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.ConcurrencyStamp, u => u.ConcurrencyStamp), cancellationToken) == 1;
    }

    /// <summary>
    /// Shares the account's row until the current transaction ends (PostgreSQL: <c>SELECT … FOR SHARE</c>): a transaction
    /// that changes the row, such as a security-stamp rotation, waits for this one or this one for it, while transactions
    /// that only share it run side by side. On SQLite the transaction's write lock already keeps writers apart, and no
    /// statement is sent. Take it first, as <see cref="LockAccountAsync"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No transaction is open.</exception>
    public static async Task ShareAccountAsync(this PortalDbContext db, string userId, CancellationToken cancellationToken = default)
    {
        EnsureTransaction(db);
        if (db is PostgresPortalDbContext)
        {
            await db.Database.ExecuteScalarInterpolatedAsync($"""SELECT 1 FROM "AspNetUsers" WHERE "Id" = {userId} FOR SHARE""", cancellationToken);
        }
    }

    /// <summary>Locks an app login's row (the login session <paramref name="sessionId"/>'s) until the current transaction ends.</summary>
    /// <returns>False when there is no such app login.</returns>
    /// <exception cref="InvalidOperationException">No transaction is open.</exception>
    public static async Task<bool> LockAppLoginAsync(this PortalDbContext db, string sessionId, CancellationToken cancellationToken = default)
    {
        EnsureTransaction(db);
        return await db.AppLogins.Where(l => l.SessionId == sessionId)
            .ExecuteUpdateAsync(set => set.SetProperty(l => l.Collections, l => l.Collections), cancellationToken) == 1;
    }

    private static void EnsureTransaction(PortalDbContext db)
    {
        if (db.Database.CurrentTransaction is null)
        {
            throw new InvalidOperationException("A row lock needs an open transaction.");
        }
    }
}
