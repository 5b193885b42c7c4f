using Microsoft.Data.Sqlite;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// Holds SQLite's write lock on a portal's database (BEGIN IMMEDIATE on a connection of its own) until disposed, as a
/// long write of another node or process would: every write of the portal waits its busy timeout, then fails busy.
/// </summary>
public sealed class WriteLock : IAsyncDisposable
{
    private readonly SqliteConnection connection;
    private readonly SqliteTransaction transaction;

    private WriteLock(SqliteConnection connection, SqliteTransaction transaction)
    {
        this.connection = connection;
        this.transaction = transaction;
    }

    public static async Task<WriteLock> TakeAsync(string databasePath)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        // Microsoft.Data.Sqlite begins transactions IMMEDIATE: the write lock is taken now, not at the first write.
        var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
        return new WriteLock(connection, transaction);
    }

    public async ValueTask DisposeAsync()
    {
        await transaction.RollbackAsync();
        await transaction.DisposeAsync();
        await connection.DisposeAsync();
    }
}
