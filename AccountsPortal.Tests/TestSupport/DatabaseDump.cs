using System.Text;
using Microsoft.Data.Sqlite;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// Every row of every table of a portal's SQLite file, as text, read over a connection of its own: two dumps are
/// equal exactly when nothing was written in between. What "an unchanged database" means in a test.
/// </summary>
public static class DatabaseDump
{
    /// <param name="except">Tables left out (say, one a refusal is meant to change, checked on its own).</param>
    public static async Task<string> OfAsync(string databasePath, params string[] except)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        var dump = new StringBuilder();
        foreach (var table in tables.Except(except))
        {
            dump.Append("## ").AppendLine(table);
            await using var rows = connection.CreateCommand();
            // The outbox worker sends queued emails in the background: which emails exist is the database's state,
            // whether one was sent yet is the worker's.
            var columns = table == "OutboxMessages" ? "\"Id\", \"Subject\"" : "*";
            rows.CommandText = $"SELECT {columns} FROM \"{table}\" ORDER BY rowid";
            await using var reader = await rows.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    var value = reader.IsDBNull(i) ? "NULL" : reader.GetValue(i) is byte[] bytes ? Convert.ToHexString(bytes) : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
                    dump.Append(reader.GetName(i)).Append('=').Append(value).Append(i + 1 < reader.FieldCount ? " | " : "\n");
                }
            }
        }

        return dump.ToString();
    }
}

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
