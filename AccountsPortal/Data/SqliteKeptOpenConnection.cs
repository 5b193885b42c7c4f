using System.Data;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Sqlite.Storage.Internal;
using Microsoft.EntityFrameworkCore.Storage;
using SQLitePCL;

namespace AccountsPortal.Data;

#pragma warning disable EF1001 // SqliteRelationalConnection is EF Core's internal API; the portal pins EF Core's version.

/// <summary>
/// EF Core's SQLite connection, kept open while its pooled context lives. EF Core closes a context's connection after
/// each use and when the context goes back to the pool; every open then took a physical connection from
/// Microsoft.Data.Sqlite's pool and registered EF Core's seven SQL functions on it again, every close removed them and
/// finalized every statement prepared on it. Kept open, a context's connection keeps its prepared statements
/// (<see cref="SqliteStatementCache"/>) from one request to the next.
/// </summary>
/// <remarks>
/// An idle connection holds no lock and no read snapshot: outside a transaction, SQLite ends a statement's read when its
/// reader is disposed. A connection found inside a transaction when EF Core would close it (SQL that began one without
/// EF Core knowing) has it rolled back; closing did not, since Microsoft.Data.Sqlite pooled the physical connection
/// with the transaction and its write lock still open. <see cref="ReleaseAll"/> closes the kept connections, which
/// <see cref="SqliteConnection.ClearAllPools"/> does not reach.
/// </remarks>
public sealed class SqliteKeptOpenConnection : SqliteRelationalConnection
{
    /// <summary>
    /// The most contexts, and so open connections, a node keeps pooled: each holds a SQLite connection with its page
    /// cache (at most 2 MiB) and prepared statements; contexts made beyond it are disposed, closing theirs, after use.
    /// </summary>
    public const int MaxKeptConnections = 128;

    private static readonly ConditionalWeakTable<SqliteKeptOpenConnection, object?> Live = new();

    private readonly Lock gate = new();
    private bool inUse;
    private bool released;

    /// <summary>EF Core's constructor, through its dependency injection.</summary>
    public SqliteKeptOpenConnection(
        RelationalConnectionDependencies dependencies,
        IRawSqlCommandBuilder rawSqlCommandBuilder,
        IDiagnosticsLogger<DbLoggerCategory.Infrastructure> logger)
        : base(dependencies, rawSqlCommandBuilder, logger) =>
        Live.AddOrUpdate(this, null);

    /// <summary>Makes the contexts built with <paramref name="builder"/> use this connection type.</summary>
    public static DbContextOptionsBuilder KeepOpen(DbContextOptionsBuilder builder) =>
        builder.ReplaceService<ISqliteRelationalConnection, SqliteKeptOpenConnection>();

    /// <summary>
    /// Closes every kept connection of the process to the database file at <paramref name="databasePath"/>: those of
    /// idle contexts now, those in use when their context next opens it outside a transaction or is given back; then
    /// empties Microsoft.Data.Sqlite's pools. After it, no connection of the portal holds a handle to the file as it
    /// was (one replaced, made read-only or deleted is opened again). SQLite lends a new connection a file descriptor
    /// that another connection of the process left open, so every one of them has to close.
    /// </summary>
    /// <param name="databasePath">The database file, as the connection string names it or relative to the working directory.</param>
    public static void ReleaseAll(string databasePath)
    {
        var path = Path.GetFullPath(databasePath);
        foreach (var (connection, _) in Live)
        {
            lock (connection.gate)
            {
                if (connection.DatabasePath != path)
                {
                    continue;
                }

                connection.released = true;
                if (!connection.inUse)
                {
                    connection.CloseIfReleased();
                }
            }
        }

        SqliteConnection.ClearAllPools();
    }

    private string DatabasePath => field ??= Path.GetFullPath(new SqliteConnectionStringBuilder(ConnectionString).DataSource);

    /// <inheritdoc />
    public override bool Open(bool errorsExpected = false)
    {
        BeginUse();
        return base.Open(errorsExpected);
    }

    /// <inheritdoc />
    public override async Task<bool> OpenAsync(CancellationToken cancellationToken, bool errorsExpected = false)
    {
        BeginUse();
        return await base.OpenAsync(cancellationToken, errorsExpected);
    }

    /// <inheritdoc />
    protected override void ResetState(bool disposeDbConnection)
    {
        BeginReset();
        base.ResetState(disposeDbConnection);
        EndUse(disposeDbConnection);
    }

    /// <inheritdoc />
    protected override async ValueTask ResetStateAsync(bool disposeDbConnection)
    {
        BeginReset();
        await base.ResetStateAsync(disposeDbConnection);
        EndUse(disposeDbConnection);
    }

    /// <inheritdoc />
    protected override void CloseDbConnection()
    {
        if (MustClose())
        {
            base.CloseDbConnection();
        }
    }

    /// <inheritdoc />
    protected override Task CloseDbConnectionAsync() =>
        MustClose() ? base.CloseDbConnectionAsync() : Task.CompletedTask;

    private void BeginUse()
    {
        lock (gate)
        {
            inUse = true;
            CloseIfReleased();
        }
    }

    /// <summary>A context being given back or disposed is left to itself by <see cref="ReleaseAll"/>.</summary>
    private void BeginReset()
    {
        lock (gate)
        {
            inUse = true;
        }
    }

    private void EndUse(bool disposed)
    {
        lock (gate)
        {
            inUse = false;
        }

        if (disposed)
        {
            Live.Remove(this);
        }
    }

    /// <summary>
    /// Closes a released connection before it is used again, unless it is inside a transaction (a request's statements
    /// in the middle of one keep it; it closes when they are done).
    /// </summary>
    private void CloseIfReleased()
    {
        if (released && CurrentTransaction is null
            && DbConnection is SqliteConnection { State: ConnectionState.Open, Handle: { } handle } && raw.sqlite3_get_autocommit(handle) != 0)
        {
            base.CloseDbConnection();
            released = false;
        }
    }

    /// <summary>
    /// Where EF Core would close the connection (its context is done with it, or given back): rolls back a transaction
    /// begun behind EF Core's back (SQL's own <c>BEGIN</c>; EF Core has ended its own by then), which closing would not
    /// have done either (Microsoft.Data.Sqlite pools the physical connection with it), and says whether the connection
    /// must really close: it was released (<see cref="ReleaseAll"/>) or is not open.
    /// </summary>
    private bool MustClose()
    {
        if (DbConnection is not SqliteConnection { State: ConnectionState.Open, Handle: { } handle })
        {
            return true;
        }

        if (raw.sqlite3_get_autocommit(handle) == 0)
        {
            raw.sqlite3_exec(handle, "ROLLBACK");
        }

        if (released)
        {
            released = false;
            return true;
        }

        return false;
    }
}
