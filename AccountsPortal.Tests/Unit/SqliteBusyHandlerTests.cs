using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// The portal's SQLite busy handler (<see cref="SqliteBusyHandler"/>): a writer that finds the write lock taken waits
/// for it and then writes, each locking event gets the whole <c>Database:BusyTimeoutMilliseconds</c>, and every
/// connection the portal opens has it. (Giving up after the timeout with 503 BUSY and nothing written is
/// <c>DatabaseFailureTests</c>'.)
/// </summary>
public sealed class SqliteBusyHandlerTests
{
    // Microsoft.Data.Sqlite retries a busy statement itself, 150 ms apart, until the command's timeout: these tests give
    // their commands 1 s, so a wait of seconds succeeds only through the handler.
    private const int CommandTimeoutSeconds = 1;

    [Fact]
    public async Task A_writer_that_finds_the_lock_taken_waits_and_writes_once_it_is_released()
    {
        using var app = new PortalAppFactory();
        await using var writer = await OpenWithHandlerAsync(app, timeoutMilliseconds: 60_000);

        Task<int> write;
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            write = Task.Run(() => InsertWindow(writer, "busy-handler-wait"));
            await Task.Delay(2500);
            Assert.False(write.IsCompleted, "The write went through (or gave up) while another connection held the write lock.");
        }

        Assert.Equal(1, await write);
        Assert.Equal(1, await CountWindowsAsync(app, "busy-handler-wait"));
    }

    [Fact]
    public async Task A_write_ahead_log_past_the_checkpoint_size_is_still_copied_into_the_database_without_the_writer_closing()
    {
        // The handler's WAL hook replaces SQLite's own, which checkpointed at 1,000 pages: the checkpoint must still
        // happen, or the log would grow as long as the portal runs.
        using var app = new PortalAppFactory();
        await using var writer = await OpenWithHandlerAsync(app, timeoutMilliseconds: 60_000);
        await using (var create = writer.CreateCommand())
        {
            create.CommandText = "CREATE TABLE \"CheckpointFiller\" (\"Data\" BLOB NOT NULL);";
            await create.ExecuteNonQueryAsync();
        }

        var sizeBefore = new FileInfo(app.DatabasePath).Length;
        const int Pages = SqliteBusyHandler.AutoCheckpointPages + 200;
        await using (var transaction = (SqliteTransaction)await writer.BeginTransactionAsync())
        {
            await using var insert = writer.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO \"CheckpointFiller\" (\"Data\") VALUES (zeroblob(4000));";
            for (var i = 0; i < Pages; i++)
            {
                await insert.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }

        // The rows reach the database file itself only through a checkpoint; the writer stays open throughout.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (new FileInfo(app.DatabasePath).Length < sizeBefore + (Pages * 4000L) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(
            new FileInfo(app.DatabasePath).Length >= sizeBefore + (Pages * 4000L),
            $"The database file is {new FileInfo(app.DatabasePath).Length} bytes (was {sizeBefore}): the log was not checkpointed.");
    }

    [Fact]
    public async Task Under_several_busy_writers_the_write_ahead_log_is_started_over_and_stays_bounded()
    {
        // SQLite starts the log over only when a writer begins after a checkpoint copied every frame back. Woken before
        // the checkpoint ran, waiting writers began too early after every commit, and the log grew with everything
        // written (an outside review: 150-220 MB in 8 s). Here 6 writers write about 45 MB between them, one row a
        // commit; the log must stay near the 1,000 pages (4 MB) after which it is checkpointed, and within twice the
        // 2,000 (8 MB) after which a restart checkpoint holds writers off while it copies. Where syncs are slow, writers
        // polling every millisecond began during nearly every passive checkpoint: before that one, CI saw 31 MB and runs
        // on one core (taskset -c 0) 33 and 72 MB; with it, 4.2-8.1 MB on one core or two.
        using var app = new PortalAppFactory();
        var writers = new List<SqliteConnection>();
        for (var i = 0; i < 6; i++)
        {
            writers.Add(await OpenWithHandlerAsync(app, timeoutMilliseconds: 60_000));
        }

        await using (var create = writers[0].CreateCommand())
        {
            create.CommandText = "CREATE TABLE \"LogFiller\" (\"Data\" BLOB NOT NULL);";
            await create.ExecuteNonQueryAsync();
        }

        var walPath = app.DatabasePath + "-wal";
        long largest = 0;
        using var done = new CancellationTokenSource();
        // Threads of their own: the writers block theirs in SQLite, and a watcher queued behind them on the thread pool
        // would not run until they were done.
        var watch = Task.Factory.StartNew(
            () =>
            {
                while (!done.IsCancellationRequested)
                {
                    largest = Math.Max(largest, File.Exists(walPath) ? new FileInfo(walPath).Length : 0);
                    Thread.Sleep(5);
                }
            },
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await Task.WhenAll(writers.Select(writer => Task.Factory.StartNew(
                () =>
                {
                    using var insert = writer.CreateCommand();
                    insert.CommandText = "INSERT INTO \"LogFiller\" (\"Data\") VALUES (zeroblob(3000));";
                    for (var i = 0; i < 2500; i++)
                    {
                        insert.ExecuteNonQuery();
                    }
                },
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        }
        finally
        {
            await done.CancelAsync();
            await watch;
            foreach (var writer in writers)
            {
                await writer.DisposeAsync();
            }
        }

        Assert.True(largest < 16L * 1024 * 1024, $"The write-ahead log reached {largest / 1024} KiB while 6 writers wrote about 45 MB.");
    }

    [Fact]
    public async Task Each_locking_event_gets_the_whole_timeout_not_what_is_left_of_an_earlier_one()
    {
        // Two waits of 3.5 s on one connection with a 6 s timeout: both succeed only if the second wait is timed from
        // its own start (7 s in all would be past the timeout).
        using var app = new PortalAppFactory();
        await using var writer = await OpenWithHandlerAsync(app, timeoutMilliseconds: 6000);
        foreach (var key in new[] { "busy-handler-first", "busy-handler-second" })
        {
            Task<int> write;
            await using (await WriteLock.TakeAsync(app.DatabasePath))
            {
                write = Task.Run(() => InsertWindow(writer, key));
                await Task.Delay(3500);
            }

            Assert.Equal(1, await write);
        }

        Assert.Equal(1, await CountWindowsAsync(app, "busy-handler-first"));
        Assert.Equal(1, await CountWindowsAsync(app, "busy-handler-second"));
    }

    [Fact]
    public async Task A_writer_gives_up_database_is_locked_once_its_timeout_has_passed_and_writes_nothing()
    {
        using var app = new PortalAppFactory();
        await using var writer = await OpenWithHandlerAsync(app, timeoutMilliseconds: 300);
        await using (await WriteLock.TakeAsync(app.DatabasePath))
        {
            var refused = await Assert.ThrowsAsync<SqliteException>(() => Task.Run(() => InsertWindow(writer, "busy-handler-refused")));
            Assert.Equal(5, refused.SqliteErrorCode); // SQLITE_BUSY
        }

        Assert.Equal(0, await CountWindowsAsync(app, "busy-handler-refused"));
    }

    [Fact]
    public async Task Every_connection_the_portal_opens_has_the_handler_with_the_configured_timeout_in_place_of_busy_timeout()
    {
        using var app = new PortalAppFactory().WithSetting("Database:BusyTimeoutMilliseconds", "4321");
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        await db.Database.OpenConnectionAsync();
        var connection = (SqliteConnection)db.Database.GetDbConnection();

        Assert.Equal(4321, SqliteBusyHandler.TimeoutOf(connection));
        // One handler per connection: SQLite's own (busy_timeout) was replaced, not kept beside it.
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout;";
        Assert.Equal(0L, await command.ExecuteScalarAsync());
        // The same for the WAL hook: SQLite reports its own automatic checkpoint as 0 once another hook is installed.
        command.CommandText = "PRAGMA wal_autocheckpoint;";
        Assert.Equal(0L, await command.ExecuteScalarAsync());

        // A connection opened outside the portal has none of ours.
        await using var outside = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = app.DatabasePath, Pooling = false }.ToString());
        await outside.OpenAsync();
        Assert.Null(SqliteBusyHandler.TimeoutOf(outside));
        await using var outsideCommand = outside.CreateCommand();
        outsideCommand.CommandText = "PRAGMA wal_autocheckpoint;";
        Assert.Equal((long)SqliteBusyHandler.AutoCheckpointPages, await outsideCommand.ExecuteScalarAsync());
    }

    /// <summary>A connection of its own to the portal's file with the handler; with <paramref name="groupSync"/>, as the portal's under group commit (NORMAL).</summary>
    internal static async Task<SqliteConnection> OpenWithHandlerAsync(
        PortalAppFactory app, int timeoutMilliseconds, int pollMilliseconds = 1, SqliteGroupSync? groupSync = null)
    {
        _ = app.Services; // the portal creates and migrates the database at start
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = app.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync();
        SqliteBusyHandler.Install(connection, timeoutMilliseconds, pollMilliseconds, groupSync);
        if (groupSync is not null)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA synchronous=NORMAL;";
            await command.ExecuteNonQueryAsync();
        }

        return connection;
    }

    internal static int InsertWindow(SqliteConnection connection, string key, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandTimeout = CommandTimeoutSeconds;
        command.CommandText = """INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ($key, 0, 1)""";
        command.Parameters.AddWithValue("$key", key);
        return command.ExecuteNonQuery();
    }

    internal static async Task<int> CountWindowsAsync(PortalAppFactory app, string key)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        return await db.RateWindows.CountAsync(w => w.Key == key);
    }
}
