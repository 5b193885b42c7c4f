using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SQLitePCL;
using System.Data.Common;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// The portal's SQLite contexts keep their connection open between requests (<see cref="SqliteKeptOpenConnection"/>)
/// and their statements prepared (<see cref="SqliteStatementCache"/>): a statement is parsed once per connection, an
/// idle kept connection holds no lock or snapshot, a transaction never outlives its request, and
/// <see cref="SqliteKeptOpenConnection.ReleaseAll"/> gives every handle up.
/// </summary>
public sealed class SqliteKeptStatementsTests
{
    private const string Probe = "kept-statement-probe@example.com";

    [Fact]
    public async Task A_query_run_in_request_after_request_is_prepared_once_per_connection_which_stays_open()
    {
        var (portal, app) = Portal();
        using var owner = portal;
        using var host = app;
        const int Requests = 24;
        var connections = new HashSet<SqliteConnection>();
        for (var request = 0; request < Requests; request++)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Equal(0, await db.Users.CountAsync(u => u.NormalizedEmail == Probe + request));
            connections.Add((SqliteConnection)db.Database.GetDbConnection());
        }

        // Pooled contexts take turns; each keeps its connection open and the query prepared once on it, however many
        // requests ran it there.
        Assert.True(connections.Count < Requests, $"{connections.Count} contexts for {Requests} requests: none was used twice.");
        long runs = 0;
        foreach (var connection in connections)
        {
            Assert.Equal(System.Data.ConnectionState.Open, connection.State);
            var counts = StatementsOn(connection).Where(s => s.Sql.Contains("COUNT(*)") && s.Sql.Contains("\"AspNetUsers\"")).ToList();
            var count = Assert.Single(counts);
            Assert.False(count.Busy);
            runs += count.Runs;
        }

        Assert.Equal(Requests, runs);
    }

    [Fact]
    public async Task A_kept_connection_holds_no_read_snapshot_between_requests_so_a_full_checkpoint_completes()
    {
        var (portal, app) = Portal();
        using var owner = portal;
        using var host = app;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO \"RateWindows\" (\"Key\", \"WindowStart\", \"Count\") VALUES ('kept-snapshot', '2026-01-01 00:00:00+00:00', 1)");
            Assert.Equal(1, await db.Database.SqlQueryRaw<int>("SELECT \"Count\" AS \"Value\" FROM \"RateWindows\" WHERE \"Key\" = 'kept-snapshot'").SingleAsync());
            var connection = (SqliteConnection)db.Database.GetDbConnection();
            await scope.DisposeAsync();

            Assert.Equal(System.Data.ConnectionState.Open, connection.State);
            Assert.Equal(1, raw.sqlite3_get_autocommit(connection.Handle));
            var statements = StatementsOn(connection);
            Assert.Contains(statements, s => s.Sql.Contains("kept-snapshot"));
            Assert.All(statements, s => Assert.False(s.Busy, s.Sql));
        }

        // A reader on an old snapshot would make a TRUNCATE checkpoint report busy (1) and leave frames in the log.
        await using var outside = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = portal.DatabasePath, Pooling = false }.ToString());
        await outside.OpenAsync();
        await using var checkpoint = outside.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        await using var result = await checkpoint.ExecuteReaderAsync();
        Assert.True(await result.ReadAsync());
        Assert.Equal(0L, result.GetInt64(0));
        Assert.Equal(0L, result.GetInt64(1));
    }

    [Fact]
    public async Task A_transaction_begun_behind_EF_Cores_back_is_rolled_back_and_its_lock_released_when_the_context_is_given_back()
    {
        var (portal, app) = Portal();
        using var owner = portal;
        using var host = app;
        SqliteConnection connection;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            await db.Database.OpenConnectionAsync();
            await db.Database.ExecuteSqlRawAsync("BEGIN IMMEDIATE");
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO \"RateWindows\" (\"Key\", \"WindowStart\", \"Count\") VALUES ('kept-left-open', '2026-01-01 00:00:00+00:00', 1)");
            connection = (SqliteConnection)db.Database.GetDbConnection();
        }

        Assert.Equal(System.Data.ConnectionState.Open, connection.State);
        Assert.Equal(1, raw.sqlite3_get_autocommit(connection.Handle));
        await using var outside = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = portal.DatabasePath, Pooling = false, DefaultTimeout = 1 }.ToString());
        await outside.OpenAsync();
        await using var write = outside.CreateCommand();
        write.CommandText = "BEGIN IMMEDIATE; SELECT COUNT(*) FROM \"RateWindows\" WHERE \"Key\" = 'kept-left-open'; COMMIT;";
        Assert.Equal(0L, await write.ExecuteScalarAsync());
    }

    [Fact]
    public async Task ReleaseAll_closes_the_connections_of_idle_contexts_at_once()
    {
        var (portal, app) = Portal();
        using var owner = portal;
        using var host = app;
        SqliteConnection connection;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            await db.Users.CountAsync();
            connection = (SqliteConnection)db.Database.GetDbConnection();
        }

        Assert.Equal(System.Data.ConnectionState.Open, connection.State);
        SqliteKeptOpenConnection.ReleaseAll(portal.DatabasePath);
        Assert.Equal(System.Data.ConnectionState.Closed, connection.State);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            Assert.Equal(0, await db.Users.CountAsync(u => u.NormalizedEmail == Probe));
        }
    }

    [Fact]
    public async Task A_statement_that_failed_is_prepared_again_and_runs_with_the_next_values()
    {
        var (portal, app) = Portal();
        using var owner = portal;
        using var host = app;
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        await db.Database.OpenConnectionAsync();

        Task<int> Insert(string key) => db.Database.ExecuteSqlInterpolatedAsync(
            $"INSERT INTO \"RateWindows\" (\"Key\", \"WindowStart\", \"Count\") VALUES ({key}, '2026-01-01 00:00:00+00:00', 1)");

        Assert.Equal(1, await Insert("kept-failure-a"));
        await Assert.ThrowsAsync<SqliteException>(() => Insert("kept-failure-a"));
        Assert.Equal(1, await Insert("kept-failure-b"));

        var keys = await db.Database.SqlQueryRaw<string>("SELECT \"Key\" AS \"Value\" FROM \"RateWindows\" WHERE \"Key\" LIKE 'kept-failure-%' ORDER BY \"Key\"").ToListAsync();
        Assert.Equal(["kept-failure-a", "kept-failure-b"], keys);
        // The failed run's statement was finalized, not kept: the next run prepared it again, once.
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        var insert = Assert.Single(StatementsOn(connection), s => s.Sql.StartsWith("INSERT INTO \"RateWindows\"", StringComparison.Ordinal));
        Assert.Equal(1, insert.Runs);
    }

    /// <summary>
    /// A portal whose SQLite connections list their prepared statements (SQLitePCL tracks them only when asked right
    /// after the connection opens).
    /// </summary>
    private static (PortalAppFactory Portal, WebApplicationFactory<Program> App) Portal()
    {
        var portal = new PortalAppFactory();
        return (portal, portal.WithWebHostBuilder(host => host.ConfigureServices(services => services.AddSingleton<IInterceptor>(new ListStatements()))));
    }

    /// <summary>The statements prepared on <paramref name="connection"/> now: SQL, times run (SQLITE_STMTSTATUS_RUN), busy.</summary>
    private static List<(string Sql, long Runs, bool Busy)> StatementsOn(SqliteConnection connection)
    {
        const int StatusRun = 6;
        var statements = new List<(string, long, bool)>();
        for (var statement = raw.sqlite3_next_stmt(connection.Handle, null); statement is not null; statement = raw.sqlite3_next_stmt(connection.Handle, statement))
        {
            statements.Add((raw.sqlite3_sql(statement).utf8_to_string(), raw.sqlite3_stmt_status(statement, StatusRun, 0), raw.sqlite3_stmt_busy(statement) != 0));
        }

        return statements;
    }

    private sealed class ListStatements : DbConnectionInterceptor
    {
        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) =>
            ((SqliteConnection)connection).Handle!.enable_sqlite3_next_stmt(true);

        public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            ConnectionOpened(connection, eventData);
            return Task.CompletedTask;
        }
    }
}
