using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Refuses, under group commit (<see cref="SqliteGroupSync"/>), a statement that writes and returns rows
/// (<c>INSERT/UPDATE/DELETE/REPLACE … RETURNING</c>) outside a transaction. SQLite commits such a statement when its
/// reader is disposed and calls no WAL hook for that commit, so it would return before its sync: an acknowledgement
/// without durability. Inside a transaction the <c>COMMIT</c> calls the hook. EF Core's own single-statement
/// <c>SaveChanges</c> runs in a transaction on SQLite (<see cref="SqlitePortalDbContext"/>); this catches raw SQL.
/// </summary>
/// <exception cref="InvalidOperationException">Thrown, before the statement runs, for such a statement.</exception>
public sealed class SqliteReturningGuard : DbCommandInterceptor
{
    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Check(command);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Check(command);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Check(command);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Check(command);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Check(command);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Check(command);
        return ValueTask.FromResult(result);
    }

    private static void Check(DbCommand command)
    {
        if (command.Transaction is not null || command.Connection is not SqliteConnection connection || !Writes(command.CommandText)
            || SqliteBusyHandler.GroupSyncOf(connection) is null)
        {
            return;
        }

        throw new InvalidOperationException(
            "A statement that writes and returns rows ran outside a transaction on SQLite with group commit: SQLite would commit it without " +
            "syncing it before it returns. Run it in a transaction (BeginTransactionAsync), or as a statement that returns no rows.");
    }

    // A write that returns rows: its first keyword (or a WITH before it), past white space and "--" comments (EF Core's
    // tags), and RETURNING. Raw SQL that is right runs in a transaction, so erring towards refusal costs nothing.
    private static bool Writes(string text)
    {
        var span = text.AsSpan();
        while (true)
        {
            span = span.TrimStart();
            if (!span.StartsWith("--", StringComparison.Ordinal))
            {
                break;
            }

            var end = span.IndexOf('\n');
            span = end < 0 ? [] : span[(end + 1)..];
        }

        // A write without RETURNING is stepped to its end, where SQLite calls the hook (also in a batch such as EF Core's
        // migration lock, "INSERT OR IGNORE …; SELECT changes();").
        return (span.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || span.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
                || span.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || span.StartsWith("REPLACE", StringComparison.OrdinalIgnoreCase)
                || span.StartsWith("WITH", StringComparison.OrdinalIgnoreCase))
            && span.Contains("RETURNING", StringComparison.OrdinalIgnoreCase);
    }
}
