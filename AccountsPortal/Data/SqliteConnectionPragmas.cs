using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Applies the per-connection SQLite settings to every physical connection: <c>synchronous</c>, <c>foreign_keys</c> and
/// the busy handler (<see cref="SqliteBusyHandler"/>, in place of <c>busy_timeout</c>) are not stored in the file, so
/// each new connection needs them. A pooled connection keeps them while it lives, and EF Core opens a connection for
/// every query: the settings run once per physical connection (its native handle), not once per query.
/// </summary>
public sealed class SqliteConnectionPragmas(int busyTimeoutMilliseconds) : DbConnectionInterceptor
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

        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
        SqliteBusyHandler.Install(sqlite, busyTimeoutMilliseconds);
    }
}
