using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// Group commit on SQLite (<see cref="SqliteGroupSync"/>, <c>Database:SqliteCommitSync</c> = <c>Grouped</c>, the
/// default): a commit returns only after a sync of the log that began after it, the write lock is free during that
/// sync so other writers commit meanwhile and share the next one, and a failed sync does not let the statements it
/// covered report success.
/// Each test has its own database file, so its own group.
/// </summary>
public sealed class SqliteGroupSyncTests
{
    [Fact]
    public async Task Every_commit_returns_only_after_a_sync_that_began_after_it()
    {
        using var app = new PortalAppFactory();
        var connections = new List<SqliteConnection>();
        for (var i = 0; i < 6; i++)
        {
            connections.Add(await OpenGroupedAsync(app));
        }

        var group = SqliteGroupSync.For(app.DatabasePath);
        var late = 0;
        await Task.WhenAll(connections.Select((connection, n) => Task.Factory.StartNew(
            () =>
            {
                for (var i = 0; i < 150; i++)
                {
                    // This commit is counted after everything counted now: a sync covering it covers more than this.
                    var countedBefore = group.Commits;
                    SqliteBusyHandlerTests.InsertWindow(connection, $"group-{n}-{i}");
                    if (group.SyncedThrough <= countedBefore)
                    {
                        Interlocked.Increment(ref late);
                    }
                }
            },
            TaskCreationOptions.LongRunning)));

        Assert.Equal(0, late);
        Assert.Equal(6 * 150, await CountWindowsLikeAsync(app, "group-%"));
        Assert.True(group.Syncs > 0, "No sync of the log ran.");
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Writers_commit_while_a_sync_runs_and_share_the_next_one()
    {
        using var app = new PortalAppFactory();
        var group = SqliteGroupSync.For(app.DatabasePath);
        var connections = new List<SqliteConnection>();
        for (var i = 0; i < 8; i++)
        {
            connections.Add(await OpenGroupedAsync(app));
        }

        // A sync that takes 30 ms: if the write lock were held through it, each commit would wait for the one before
        // to be synced and lead its own sync (as many syncs as commits).
        var (commitsBefore, syncsBefore) = (group.Commits, group.Syncs);
        group.BeforeSync = () => Thread.Sleep(30);
        try
        {
            await Task.WhenAll(connections.Select((connection, n) => Task.Factory.StartNew(
                () =>
                {
                    for (var i = 0; i < 20; i++)
                    {
                        SqliteBusyHandlerTests.InsertWindow(connection, $"shared-{n}-{i}");
                    }
                },
                TaskCreationOptions.LongRunning)));
        }
        finally
        {
            group.BeforeSync = null;
        }

        var (commits, syncs) = (group.Commits - commitsBefore, group.Syncs - syncsBefore);
        Assert.True(commits >= 8 * 20, $"{commits} commits counted."); // and any the portal made meanwhile
        Assert.True(syncs * 2 < commits, $"{syncs} syncs for {commits} commits: commits did not share syncs.");
        Assert.Equal(8 * 20, await CountWindowsLikeAsync(app, "shared-%"));
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_failed_sync_fails_the_statement_it_covered_and_later_commits_sync_again()
    {
        using var app = new PortalAppFactory();
        await using var connection = await OpenGroupedAsync(app);
        var group = SqliteGroupSync.For(app.DatabasePath);

        group.FailSyncsWith = 10; // SQLITE_IOERR
        try
        {
            var error = Assert.Throws<SqliteException>(() => SqliteBusyHandlerTests.InsertWindow(connection, "sync-failed"));
            // SQLite turns the WAL hook's error into SQLITE_ERROR for the statement. (A real failed sync stops the process.)
            Assert.Equal(1, error.SqliteErrorCode);
        }
        finally
        {
            group.FailSyncsWith = 0;
        }

        // SQLite's WAL hook reports after the commit: the row is in, though the caller was told it failed.
        Assert.Equal(1, await CountWindowsLikeAsync(app, "sync-failed"));
        var syncedBefore = group.SyncedThrough;
        Assert.Equal(1, SqliteBusyHandlerTests.InsertWindow(connection, "sync-works-again"));
        Assert.True(group.SyncedThrough > syncedBefore);
    }

    [Fact]
    public async Task The_portal_runs_grouped_by_default_and_sqlite_s_full_sync_when_configured()
    {
        using (var grouped = new PortalAppFactory())
        {
            var (synchronous, group) = await SettingsOfAsync(grouped);
            Assert.Equal("1", synchronous); // NORMAL: the WAL hook syncs the log before a commit returns
            Assert.Equal(Path.GetFullPath(grouped.DatabasePath), group?.Path);
        }

        using var perCommit = new PortalAppFactory().WithSetting("Database:SqliteCommitSync", "PerCommit");
        var (fullSynchronous, none) = await SettingsOfAsync(perCommit);
        Assert.Equal("2", fullSynchronous); // FULL
        Assert.Null(none);
    }

    private static async Task<(string? Synchronous, SqliteGroupSync? Group)> SettingsOfAsync(PortalAppFactory app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        await db.Database.OpenConnectionAsync();
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous;";
        var synchronous = Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        return (synchronous, SqliteBusyHandler.GroupSyncOf(connection));
    }

    private static async Task<SqliteConnection> OpenGroupedAsync(PortalAppFactory app)
    {
        _ = app.Services; // the portal creates and migrates the database at start
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = app.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA synchronous=NORMAL;";
            await command.ExecuteNonQueryAsync();
        }

        SqliteBusyHandler.Install(connection, 60_000, SqliteGroupSync.For(app.DatabasePath));
        return connection;
    }

    private static async Task<int> CountWindowsLikeAsync(PortalAppFactory app, string pattern)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        return await db.RateWindows.CountAsync(w => EF.Functions.Like(w.Key, pattern));
    }
}
