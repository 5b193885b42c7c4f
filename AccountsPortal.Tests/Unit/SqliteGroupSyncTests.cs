using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
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
    public async Task A_commit_counted_while_a_sync_runs_waits_for_a_sync_of_its_own()
    {
        using var app = new PortalAppFactory();
        await using var first = await OpenGroupedAsync(app);
        await using var second = await OpenGroupedAsync(app);
        var group = SqliteGroupSync.For(app.DatabasePath);
        using var release = new ManualResetEventSlim(false);
        var held = 0;
        // The first sync waits until the second commit has been counted: that commit's frames may postdate the sync's
        // start, so this sync must not answer for it.
        group.BeforeSync = () =>
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };
        try
        {
            var (commitsBefore, syncsBefore) = (group.Commits, group.Syncs);
            var leading = Task.Factory.StartNew(() => SqliteBusyHandlerTests.InsertWindow(first, "during-sync-1"), TaskCreationOptions.LongRunning);
            await WaitUntilAsync(() => group.Commits >= commitsBefore + 1);
            var following = Task.Factory.StartNew(() => SqliteBusyHandlerTests.InsertWindow(second, "during-sync-2"), TaskCreationOptions.LongRunning);
            await WaitUntilAsync(() => group.Commits >= commitsBefore + 2);
            Assert.False(following.IsCompleted, "The second commit returned while the only sync running began before it.");
            release.Set();
            Assert.Equal(1, await leading);
            Assert.Equal(1, await following);
            Assert.True(group.Syncs - syncsBefore >= 2, $"{group.Syncs - syncsBefore} sync(s) for a commit counted during the first and the first itself.");
        }
        finally
        {
            release.Set();
            group.BeforeSync = null;
        }
    }

    [Theory]
    [InlineData("update")]
    [InlineData("delete")]
    [InlineData("insert with a generated key")]
    public async Task A_single_statement_save_changes_returns_only_after_its_sync(string change)
    {
        // EF Core sends a lone statement as … RETURNING and, outside a transaction, SQLite commits it as its reader is
        // disposed without calling the WAL hook: the portal's SQLite context saves in a transaction instead.
        using var app = new PortalAppFactory();
        var group = SqliteGroupSync.For(app.DatabasePath);
        await app.WithDbAsync(async db =>
        {
            db.RateWindows.Add(new RateWindow { Key = "save-changes", WindowStart = DateTimeOffset.UnixEpoch, Count = 1 });
            return await db.SaveChangesAsync();
        });

        // Several scopes: pooled contexts keep the setting when they are handed out again.
        for (var round = 0; round < 3; round++)
        {
            var countedBefore = group.Commits;
            await app.WithDbAsync(async db =>
            {
                switch (change)
                {
                    case "update":
                        (await db.RateWindows.SingleAsync(w => w.Key == "save-changes")).Count += 1;
                        break;
                    case "delete":
                        db.RateWindows.Remove(await db.RateWindows.SingleAsync(w => w.Key == "save-changes"));
                        break;
                    default:
                        // Not due for a year: the outbox sender leaves it alone.
                        db.OutboxMessages.Add(new AccountsPortal.Features.Email.OutboxMessage
                        {
                            To = "nobody@example.com",
                            Subject = "s",
                            TextBody = "t",
                            HtmlBody = "h",
                            CreatedAt = DateTimeOffset.UtcNow,
                            NextAttemptAt = DateTimeOffset.UtcNow.AddYears(1),
                        });
                        break;
                }

                await db.SaveChangesAsync();
                Assert.True(group.SyncedThrough > countedBefore, $"The {change} returned before a sync that began after it ({change}, round {round}).");
                if (change == "delete")
                {
                    db.RateWindows.Add(new RateWindow { Key = "save-changes", WindowStart = DateTimeOffset.UnixEpoch, Count = 1 });
                    await db.SaveChangesAsync();
                }

                return round;
            });
        }
    }

    [Fact]
    public async Task A_raw_statement_that_writes_and_returns_rows_is_refused_outside_a_transaction_and_runs_inside_one()
    {
        using var app = new PortalAppFactory();
        var group = SqliteGroupSync.For(app.DatabasePath);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => app.WithDbAsync(db => db.Database.SqlQuery<string>($"""
            INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ('returning-outside', 0, 1) RETURNING "Key" AS "Value"
            """).ToListAsync()));
        Assert.Contains("outside a transaction", refused.Message, StringComparison.Ordinal);
        var refusedAsNonQuery = await Assert.ThrowsAsync<InvalidOperationException>(() => app.WithDbAsync(db => db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ('returning-outside', 0, 1) RETURNING "Key"
            """)));
        Assert.Contains("outside a transaction", refusedAsNonQuery.Message, StringComparison.Ordinal);
        Assert.Equal(0, await CountWindowsLikeAsync(app, "returning-outside"));

        var countedBefore = group.Commits;
        await app.WithDbAsync(async db =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            Assert.Equal(["returning-inside"], await db.Database.SqlQuery<string>($"""
                INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ('returning-inside', 0, 1) RETURNING "Key" AS "Value"
                """).ToListAsync());
            await transaction.CommitAsync();
            return 0;
        });
        Assert.True(group.SyncedThrough > countedBefore);
        Assert.Equal(1, await CountWindowsLikeAsync(app, "returning-inside"));
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
        return (await Api.PlatformTests.PragmaAsync(db, "synchronous"), SqliteBusyHandler.GroupSyncOf((SqliteConnection)db.Database.GetDbConnection()));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out.");
            await Task.Delay(5);
        }
    }

    private static Task<SqliteConnection> OpenGroupedAsync(PortalAppFactory app) =>
        SqliteBusyHandlerTests.OpenWithHandlerAsync(app, 60_000, groupSync: SqliteGroupSync.For(app.DatabasePath));

    private static async Task<int> CountWindowsLikeAsync(PortalAppFactory app, string pattern)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        return await db.RateWindows.CountAsync(w => EF.Functions.Like(w.Key, pattern));
    }
}
