using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Logging;

namespace AccountsPortal.Data;

/// <summary>
/// Lines up this process's writers to one SQLite file before they ask SQLite for its write lock: a transaction
/// (Microsoft.Data.Sqlite begins them IMMEDIATE, taking the lock at once) and a write statement outside one wait here,
/// asynchronously and roughly in the order they came (<see cref="SemaphoreSlim"/> serves a synchronous waiter, such
/// as a migration at start, before asynchronous ones), and the next one goes the moment the lock is given back.
/// </summary>
/// <remarks>
/// Without it, writers that find the lock taken wait in SQLite's busy handler, which sleeps 1, 2, 5 … up to 100 ms
/// between tries and blocks a thread-pool thread meanwhile: under load the lock often sits free while every writer
/// waiting for it sleeps. SQLite still arbitrates between processes (two nodes on one file, a backup tool): a writer
/// through the gate may yet wait there, up to <see cref="DatabaseOptions.BusyTimeoutMilliseconds"/>. Waiting here is
/// bounded by the same timeout and ends as SQLite's own would, in SQLITE_BUSY (a 503 for the person), so a refusal is
/// unchanged; the longest wait, with another process holding the lock too, is twice the timeout. Reads never wait: in
/// WAL mode they do not need the write lock. A write that is not recognised as one (<c>ExecuteScalar</c>, or a reader
/// whose SQL does not start with its verb) is not lined up and waits in SQLite's busy handler, as before.
/// <para>
/// A connection holds the gate from the start of its transaction until the commit or rollback (or, for a transaction
/// disposed unfinished, until the connection closes: SQLite rolls it back then), and for a statement outside a
/// transaction until it has run. A transaction disposed unfinished gives it back when EF Core reports the disposal
/// (<see cref="OnEvent"/>), whoever opened its connection.
/// </para>
/// </remarks>
public sealed class SqliteWriteGate(int timeoutMilliseconds) : IDbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor
{
    private readonly SemaphoreSlim gate = new(1, 1);

    // What each connection holds; an entry goes with its connection object.
    private readonly ConditionalWeakTable<DbConnection, Lease> leases = [];

    // The connection of each open transaction: a committed SqliteTransaction no longer names it.
    private readonly ConditionalWeakTable<DbTransaction, DbConnection> transactions = [];

    // A lease whose connection was dropped while holding the gate (a context never disposed) gives it back when
    // collected, instead of keeping every later writer of the node waiting until a restart.
    private sealed class Lease(SemaphoreSlim gate)
    {
        public bool Held;

        ~Lease()
        {
            if (Held)
            {
                gate.Release();
            }
        }
    }

    private ConditionalWeakTable<DbConnection, Lease>.CreateValueCallback? newLease;

    private Lease LeaseOf(DbConnection connection) => leases.GetValue(connection, newLease ??= _ => new Lease(gate));

    private TimeSpan Timeout => TimeSpan.FromMilliseconds(timeoutMilliseconds);

    // Transactions.

    // The gate begins the transaction itself, so that a BEGIN that fails (another process holds the lock past the
    // busy timeout) gives the gate back at once.

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Enter(connection);
        return InterceptionResult<DbTransaction>.SuppressWithResult(Begin(connection, eventData));
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        await EnterAsync(connection, cancellationToken);
        return InterceptionResult<DbTransaction>.SuppressWithResult(Begin(connection, eventData));
    }

    // Microsoft.Data.Sqlite begins synchronously whichever method is called.
    private DbTransaction Begin(DbConnection connection, TransactionStartingEventData eventData)
    {
        try
        {
            var transaction = connection.BeginTransaction(eventData.IsolationLevel);
            transactions.AddOrUpdate(transaction, connection);
            return transaction;
        }
        catch
        {
            Leave(connection);
            throw;
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Leave(transaction);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Leave(transaction);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Leave(transaction);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Leave(transaction);
        return Task.CompletedTask;
    }

    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => LeaveIfEnded(transaction, eventData);

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        LeaveIfEnded(transaction, eventData);
        return Task.CompletedTask;
    }

    // A commit or rollback that failed may still have ended the transaction (SQLite rolls back on some errors); a
    // failed savepoint leaves it open, still holding SQLite's lock.
    private void LeaveIfEnded(DbTransaction transaction, TransactionErrorEventData eventData)
    {
        if (transactions.TryGetValue(transaction, out var connection)
            && connection is SqliteConnection { Handle: { } handle } && SQLitePCL.raw.sqlite3_get_autocommit(handle) != 0)
        {
            Leave(transaction);
        }
    }

    private void Leave(DbTransaction transaction)
    {
        if (transactions.TryGetValue(transaction, out var connection))
        {
            transactions.Remove(transaction);
            Leave(connection);
        }
    }

    /// <summary>For <c>DbContextOptionsBuilder.LogTo</c>: the one event the gate needs, <see cref="OnEvent"/>'s.</summary>
    public static bool Hears(EventId eventId, LogLevel level) => eventId.Id == RelationalEventId.TransactionDisposed.Id;

    /// <summary>
    /// A transaction disposed without commit or rollback (an early return or an exception inside its <c>using</c>):
    /// Microsoft.Data.Sqlite has rolled it back, so the gate goes back now. Relying on the connection's close instead is
    /// not enough: a connection its caller opened closes later, and a BEGIN that failed leaves EF Core's open count of a
    /// pooled context one too high for good, so that connection may never close. After a commit or rollback this finds
    /// nothing to give back.
    /// </summary>
    public void OnEvent(EventData eventData)
    {
        if (eventData is TransactionEventData { Transaction: { } transaction })
        {
            Leave(transaction);
        }
    }

    // A transaction disposed without commit or rollback is also rolled back when its connection closes.

    public void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

    public Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData)
    {
        Leave(connection);
        return Task.CompletedTask;
    }

    // A connection that EF disposes (its context's, when the context is disposed rather than pooled).

    public void ConnectionDisposed(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

    public Task ConnectionDisposedAsync(DbConnection connection, ConnectionEndEventData eventData)
    {
        Leave(connection);
        return Task.CompletedTask;
    }

    // Write statements outside a transaction (ExecuteUpdate, ExecuteDelete, raw SQL, SaveChanges of one statement).

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (NeedsGate(command))
        {
            Enter(command.Connection!);
        }

        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (NeedsGate(command))
        {
            await EnterAsync(command.Connection!, cancellationToken);
        }

        return result;
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        LeaveAfterStatement(command);
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        LeaveAfterStatement(command);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        if (NeedsGate(command) && IsWrite(command.CommandText))
        {
            Enter(command.Connection!);
        }

        return result;
    }

    public async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        if (NeedsGate(command) && IsWrite(command.CommandText))
        {
            await EnterAsync(command.Connection!, cancellationToken);
        }

        return result;
    }

    // An INSERT … RETURNING outside a transaction has run once its reader is closed.
    public InterceptionResult DataReaderClosing(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        LeaveAfterStatement(command);
        return result;
    }

    public ValueTask<InterceptionResult> DataReaderClosingAsync(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        LeaveAfterStatement(command);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        LeaveAfterStatement(command);
        return result;
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => LeaveAfterStatement(command);

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        LeaveAfterStatement(command);
        return Task.CompletedTask;
    }

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => LeaveAfterStatement(command);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default)
    {
        LeaveAfterStatement(command);
        return Task.CompletedTask;
    }

    /// <summary>A statement outside any transaction, on a connection that does not hold the gate already.</summary>
    private bool NeedsGate(DbCommand command) =>
        command.Transaction is null && command.Connection is { } connection && !LeaseOf(connection).Held;

    private void LeaveAfterStatement(DbCommand command)
    {
        // Inside a transaction the gate is the transaction's, given back when it ends.
        if (command.Transaction is null && command.Connection is { } connection)
        {
            Leave(connection);
        }
    }

    /// <summary>SaveChanges reads back what it writes (RETURNING): its statements start with the verb.</summary>
    private static bool IsWrite(string text)
    {
        var start = text.AsSpan().TrimStart();
        return start.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase)
            || start.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
            || start.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase)
            || start.StartsWith("REPLACE", StringComparison.OrdinalIgnoreCase);
    }

    private void Enter(DbConnection connection)
    {
        var lease = LeaseOf(connection);
        if (lease.Held)
        {
            return;
        }

        if (!gate.Wait(Timeout))
        {
            throw Busy();
        }

        lease.Held = true;
    }

    private async Task EnterAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var lease = LeaseOf(connection);
        if (lease.Held)
        {
            return;
        }

        if (!await gate.WaitAsync(Timeout, cancellationToken))
        {
            throw Busy();
        }

        lease.Held = true;
    }

    private void Leave(DbConnection? connection)
    {
        if (connection is not null && leases.TryGetValue(connection, out var lease) && lease.Held)
        {
            lease.Held = false;
            gate.Release();
        }
    }

    // What SQLite itself answers when its busy timeout runs out (SQLITE_BUSY is 5): the same 503 for the person.
    private static SqliteException Busy() => new("database is locked (this node's writers waited past Database:BusyTimeoutMilliseconds)", 5);
}
