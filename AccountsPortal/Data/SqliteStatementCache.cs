using System.Data;
using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Data;

/// <summary>
/// Keeps SQLite's prepared statements between EF Core commands. EF Core makes a new command for every statement and
/// disposes it after, and Microsoft.Data.Sqlite keeps a statement prepared only for the life of its command, so SQLite
/// parsed and planned every statement of every request again (in a profile under load, SQLite's parser and planner were
/// about a tenth of the portal's CPU). This interceptor hands EF Core a command that, when it runs, borrows a
/// <see cref="SqliteCommand"/> kept for the same SQL text on the same open connection, so the statement is prepared once
/// per connection and only its parameters are bound again (SQLite re-prepares it by itself after a schema change).
/// </summary>
/// <remarks>
/// A connection keeps at most <see cref="MaxStatementsPerConnection"/> statements, the least recently used given up
/// first; they are finalized when the connection closes (<see cref="SqliteConnection.Close"/> disposes its commands).
/// A kept command runs one statement at a time: if it is still busy (its reader open) the statement runs on a command
/// of its own, as before. A command whose statement fails is disposed rather than kept. Statements last only while
/// their connection stays open, which is why the portal's SQLite contexts keep theirs open
/// (<see cref="SqliteKeptOpenConnection"/>).
/// </remarks>
public sealed class SqliteStatementCache : DbCommandInterceptor
{
    /// <summary>The most statements one connection keeps prepared.</summary>
    public const int MaxStatementsPerConnection = 64;

    private static readonly ConditionalWeakTable<SqliteConnection, ConnectionStatements> Statements = new();

    public override InterceptionResult<DbCommand> CommandCreating(CommandCorrelatedEventData eventData, InterceptionResult<DbCommand> result) =>
        !result.HasResult && eventData.Connection is SqliteConnection connection
            ? InterceptionResult<DbCommand>.SuppressWithResult(new KeptStatementCommand(connection, Statements.GetValue(connection, c => new ConnectionStatements(c))))
            : result;

    /// <summary>How many statements <paramref name="connection"/> keeps prepared now (for tests).</summary>
    public static int CountOf(SqliteConnection connection) =>
        Statements.TryGetValue(connection, out var statements) ? statements.Count : 0;

    /// <summary>The commands one connection keeps, by SQL text.</summary>
    private sealed class ConnectionStatements
    {
        private readonly SqliteConnection connection;
        private readonly Dictionary<string, KeptCommand> byText = new(StringComparer.Ordinal);
        private long clock;

        public ConnectionStatements(SqliteConnection connection)
        {
            this.connection = connection;
            // Close disposes every command of the connection: what was kept is gone with it.
            connection.StateChange += (_, change) =>
            {
                if (change.CurrentState == ConnectionState.Closed)
                {
                    byText.Clear();
                }
            };
        }

        public int Count => byText.Count;

        /// <summary>
        /// The kept command for <paramref name="text"/>, or a new one (kept if there is room); never one in use. Inside
        /// a transaction EF Core does not know of, a command of the connection's own (which takes that transaction).
        /// </summary>
        public SqliteCommand Rent(string text, bool efTransaction)
        {
            if (!efTransaction && connection.Handle is { } handle && SQLitePCL.raw.sqlite3_get_autocommit(handle) == 0)
            {
                var own = connection.CreateCommand();
                own.CommandText = text;
                return own;
            }

            if (byText.TryGetValue(text, out var kept))
            {
                if (!kept.InUse)
                {
                    kept.InUse = true;
                    kept.LastUsed = ++clock;
                    return kept;
                }

                return New(text, keep: false);
            }

            if (byText.Count >= MaxStatementsPerConnection)
            {
                var oldest = byText.Values.Where(c => !c.InUse).MinBy(c => c.LastUsed);
                if (oldest is null)
                {
                    return New(text, keep: false);
                }

                byText.Remove(oldest.CommandText);
                oldest.Dispose();
            }

            var made = New(text, keep: true);
            byText[text] = made;
            return made;
        }

        /// <summary>Gives <paramref name="command"/> back after a run; disposes it when it failed or is not kept.</summary>
        public void Return(SqliteCommand returned, bool failed)
        {
            returned.Parameters.Clear();
            if (returned is not KeptCommand { Kept: true } command)
            {
                returned.Dispose();
                return;
            }

            command.InUse = false;
            command.Transaction = null;
            if (failed || connection.State != ConnectionState.Open)
            {
                if (byText.TryGetValue(command.CommandText, out var kept) && ReferenceEquals(kept, command))
                {
                    byText.Remove(command.CommandText);
                }

                command.Dispose();
            }
        }

        private KeptCommand New(string text, bool keep) =>
            new(keep) { Connection = connection, CommandText = text, InUse = true, LastUsed = ++clock };
    }

    /// <summary>A <see cref="SqliteCommand"/> that stays prepared between runs.</summary>
    private sealed class KeptCommand(bool kept) : SqliteCommand
    {
        public bool Kept { get; } = kept;

        public bool InUse { get; set; }

        public long LastUsed { get; set; }
    }

    /// <summary>The parameters EF Core adds to a command before it runs.</summary>
    private sealed class Parameters : SqliteParameterCollection;

    /// <summary>
    /// The command EF Core sees: it collects the text, parameters, transaction and timeout, and runs them on a kept
    /// command of its connection, which it gives back when the reader it returned, then itself, are disposed.
    /// </summary>
    private sealed class KeptStatementCommand : DbCommand
    {
        private readonly SqliteConnection connection;
        private readonly ConnectionStatements statements;
        private readonly Parameters parameters = new();
        private SqliteCommand? running;
        private string text = string.Empty;

        public KeptStatementCommand(SqliteConnection connection, ConnectionStatements statements)
        {
            this.connection = connection;
            this.statements = statements;
            // As SqliteConnection.CreateCommand: the connection's timeout (EF Core sets the transaction it knows).
            CommandTimeout = connection.DefaultTimeout;
        }

        [AllowNull]
        public override string CommandText
        {
            get => text;
            set => text = value ?? string.Empty;
        }

        public override int CommandTimeout { get; set; }

        public override CommandType CommandType
        {
            get => CommandType.Text;
            set
            {
                if (value != CommandType.Text)
                {
                    throw new ArgumentException($"SQLite runs CommandType.Text only, not {value}.", nameof(value));
                }
            }
        }

        public override bool DesignTimeVisible { get; set; }

        public override UpdateRowSource UpdatedRowSource { get; set; }

        protected override DbConnection? DbConnection
        {
            get => connection;
            set
            {
                if (!ReferenceEquals(value, connection))
                {
                    throw new NotSupportedException("A kept SQLite statement runs on the connection it was made for.");
                }
            }
        }

        protected override DbParameterCollection DbParameterCollection => parameters;

        protected override DbTransaction? DbTransaction { get; set; }

        public override void Cancel() => running?.Cancel();

        public override void Prepare()
        {
        }

        protected override DbParameter CreateDbParameter() => new SqliteParameter();

        public override int ExecuteNonQuery() => Run(command => command.ExecuteNonQuery(), giveBack: true);

        public override object? ExecuteScalar() => Run(command => command.ExecuteScalar(), giveBack: true);

        protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior) =>
            Run(command => command.ExecuteReader(behavior), giveBack: false);

        private T Run<T>(Func<SqliteCommand, T> run, bool giveBack)
        {
            GiveBack(failed: false);
            var command = statements.Rent(text, efTransaction: DbTransaction is not null);
            if (command is KeptCommand)
            {
                // A kept command still holds the transaction of its last run.
                command.Transaction = (SqliteTransaction?)DbTransaction;
            }

            command.CommandTimeout = CommandTimeout;
            foreach (SqliteParameter parameter in parameters)
            {
                command.Parameters.Add(parameter);
            }

            running = command;
            try
            {
                var result = run(command);
                if (giveBack)
                {
                    GiveBack(failed: false);
                }

                return result;
            }
            catch
            {
                GiveBack(failed: true);
                throw;
            }
        }

        private void GiveBack(bool failed)
        {
            if (running is { } command)
            {
                running = null;
                statements.Return(command, failed);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                GiveBack(failed: false);
            }

            base.Dispose(disposing);
        }
    }
}
