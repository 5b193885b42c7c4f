using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Applies the per-connection SQLite settings to every physical connection: <c>synchronous</c>, <c>busy_timeout</c> and
/// <c>foreign_keys</c> are not stored in the file, so each new connection needs them. A pooled connection keeps them
/// while it lives, and EF Core opens a connection for every query: the settings run once per physical connection
/// (its native handle), not once per query.
/// </summary>
public sealed class SqliteConnectionPragmas(int busyTimeoutMilliseconds) : DbConnectionInterceptor
{
    // Native handles already set up; an entry goes when its handle is collected (the pool closed the connection).
    private static readonly ConditionalWeakTable<object, object> Configured = [];

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) =>
        Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    private void Apply(DbConnection connection)
    {
        var handle = (connection as SqliteConnection)?.Handle;
        if (handle is not null && Configured.TryGetValue(handle, out var applied) && (int)applied == busyTimeoutMilliseconds)
        {
            return;
        }

        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA synchronous=FULL; PRAGMA busy_timeout={busyTimeoutMilliseconds}; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
        if (handle is not null)
        {
            Configured.AddOrUpdate(handle, busyTimeoutMilliseconds);
        }
    }
}
