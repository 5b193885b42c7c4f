using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Applies the per-connection SQLite settings to every physical connection: <c>synchronous</c>, <c>foreign_keys</c> and
/// the busy handler (<see cref="SqliteBusyHandler"/>, in place of <c>busy_timeout</c>, with the WAL hook that syncs
/// commits under <see cref="SqliteCommitSync.Grouped"/>) are not stored in the file, so each new connection needs them.
/// A pooled connection keeps them while it lives, and EF Core opens a connection for every query: the settings run once
/// per physical connection (its native handle), not once per query.
/// </summary>
/// <param name="busyTimeoutMilliseconds">The busy handler's longest wait per locking event (<see cref="DatabaseOptions.BusyTimeoutMilliseconds"/>).</param>
/// <param name="commitSync">How commits reach the disk (<see cref="DatabaseOptions.SqliteCommitSync"/>).</param>
public sealed class SqliteConnectionPragmas(int busyTimeoutMilliseconds, SqliteCommitSync commitSync = SqliteCommitSync.Grouped) : DbConnectionInterceptor
{
    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) =>
        Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    private void Apply(DbConnection connection)
    {
        if (connection is not SqliteConnection sqlite)
        {
            return;
        }

        if (SqliteBusyHandler.TimeoutOf(sqlite) == busyTimeoutMilliseconds)
        {
            return;
        }

        var grouped = commitSync == SqliteCommitSync.Grouped;
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
        SqliteBusyHandler.Install(sqlite, busyTimeoutMilliseconds, grouped ? SqliteGroupSync.For(sqlite.DataSource) : null);
        if (grouped)
        {
            // NORMAL under group commit (SQLite writes the log at a commit, the WAL hook waits for its sync), and only
            // once the hook is in place: a connection never runs NORMAL without the wait.
            command.CommandText = "PRAGMA synchronous=NORMAL;";
            command.ExecuteNonQuery();
        }
    }
}
