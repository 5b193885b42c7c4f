using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Lets one writer at a time of this process at a SQLite file, in arrival order, instead of letting them collide in
/// SQLite. SQLite has one write lock per file; a writer that finds it taken is put to sleep by SQLite's busy handler
/// (1, 2, 5, 10 … 100 ms between tries), so under load most of a request's time went to sleeping while the lock was
/// already free. Waiting here instead hands the lock over the moment the previous writer commits.
/// </summary>
/// <remarks>
/// A writer is a transaction (every portal transaction takes SQLite's write lock as it begins: Microsoft.Data.Sqlite
/// begins them IMMEDIATE) or a write statement outside one. The gate is taken before <c>BEGIN</c> (or the statement)
/// and given back at commit or rollback, or when the connection closes (a transaction disposed without either).
/// Waiting longer than <see cref="DatabaseOptions.BusyTimeoutMilliseconds"/> fails as SQLITE_BUSY would (503, nothing
/// written). Other processes on the same file still meet SQLite's own busy handling. One gate per file.
/// </remarks>
public sealed class SqliteWriteGate(int busyTimeoutMilliseconds) : DbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor
{
    private const int SqliteBusy = 5;

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new(StringComparer.Ordinal);

    // The gate a connection holds, if any; a connection is used by one request at a time.
    private static readonly ConditionalWeakTable<DbConnection, Holder> Held = [];

    /// <summary>Takes the gate, then begins the transaction here, so that a BEGIN that fails gives the gate back.</summary>
    public override InterceptionResult<DbTransaction> TransactionStarting(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Enter(connection);
        try
        {
            return InterceptionResult<DbTransaction>.SuppressWithResult(connection.BeginTransaction(eventData.IsolationLevel));
        }
        catch
        {
            Leave(connection);
            throw;
        }
    }

    /// <inheritdoc cref="TransactionStarting"/>
    public override async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        await EnterAsync(connection, cancellationToken);
        try
        {
            return InterceptionResult<DbTransaction>.SuppressWithResult(await connection.BeginTransactionAsync(eventData.IsolationLevel, cancellationToken));
        }
        catch
        {
            Leave(connection);
            throw;
        }
    }

    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Leave(ConnectionOf(eventData));

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Leave(ConnectionOf(eventData));
        return Task.CompletedTask;
    }

    public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Leave(ConnectionOf(eventData));

    public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Leave(ConnectionOf(eventData));
        return Task.CompletedTask;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (IsLoneWrite(command))
        {
            Enter(command.Connection!);
        }

        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
        {
            await EnterAsync(command.Connection!, cancellationToken);
        }

        return result;
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        LeaveAfterLoneWrite(command);
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        LeaveAfterLoneWrite(command);
        return ValueTask.FromResult(result);
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => LeaveAfterLoneWrite(command);

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        LeaveAfterLoneWrite(command);
        return Task.CompletedTask;
    }

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => LeaveAfterLoneWrite(command);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        LeaveAfterLoneWrite(command);
        return Task.CompletedTask;
    }

    /// <summary>A transaction disposed without commit or rollback ends when its connection closes.</summary>
    public InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        Leave(connection);
        return result;
    }

    public ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        Leave(connection);
        return ValueTask.FromResult(result);
    }

    /// <summary>A statement that writes and runs outside a transaction (SQLite wraps it in one of its own).</summary>
    private static bool IsLoneWrite(DbCommand command) =>
        command.Transaction is null && command.Connection is not null && !Held.TryGetValue(command.Connection, out _)
        && command.CommandText.AsSpan().TrimStart() is var text
        && (text.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase));

    private void LeaveAfterLoneWrite(DbCommand command)
    {
        if (command.Transaction is null && command.Connection is not null)
        {
            Leave(command.Connection);
        }
    }

    private void Enter(DbConnection connection)
    {
        var gate = GateOf(connection);
        if (!gate.Wait(busyTimeoutMilliseconds))
        {
            throw Busy();
        }

        Held.AddOrUpdate(connection, new Holder(gate));
    }

    private async ValueTask EnterAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var gate = GateOf(connection);
        if (!await gate.WaitAsync(busyTimeoutMilliseconds, cancellationToken))
        {
            throw Busy();
        }

        Held.AddOrUpdate(connection, new Holder(gate));
    }

    private static void Leave(DbConnection? connection)
    {
        if (connection is not null && Held.TryGetValue(connection, out var holder))
        {
            Held.Remove(connection);
            holder.Gate.Release();
        }
    }

    // The transaction's own Connection is cleared once it completes; the context still knows its connection.
    private static DbConnection? ConnectionOf(DbContextEventData eventData) =>
        eventData.Context is { } context ? Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions.GetDbConnection(context.Database) : null;

    private static SemaphoreSlim GateOf(DbConnection connection) =>
        Gates.GetOrAdd(Path.GetFullPath(((SqliteConnection)connection).DataSource), _ => new SemaphoreSlim(1, 1));

    private SqliteException Busy() =>
        new($"database is locked: another writer of this process held it for more than {busyTimeoutMilliseconds} ms", SqliteBusy);

    private sealed record Holder(SemaphoreSlim Gate);
}
