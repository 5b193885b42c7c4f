using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Applies the per-connection SQLite settings every time a pooled connection is opened:
/// <c>synchronous</c> and <c>busy_timeout</c> are not stored in the file, so they must be set on each connection.
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
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={busyTimeoutMilliseconds}; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
    }
}
