using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// The portal's writers to its SQLite file wait in line in the process (<see cref="SqliteWriteGate"/>): a writer
/// waiting behind an open transaction goes as soon as it ends, one waiting past the busy timeout fails as SQLite's
/// busy timeout would, and a transaction that ends any way (commit, rollback, dispose) lets the next writer in.
/// </summary>
public sealed class SqliteWriteGateTests
{
    private const string Key = "gate-test";

    [Fact]
    public async Task A_write_waiting_behind_an_open_transaction_goes_once_it_commits()
    {
        using var app = new PortalAppFactory().WithSetting("Database:BusyTimeoutMilliseconds", "30000");
        await using var holder = app.Services.CreateAsyncScope();
        var db = holder.ServiceProvider.GetRequiredService<PortalDbContext>();

        await using var transaction = await db.Database.BeginTransactionAsync();
        await db.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 1)""");
        var waiting = app.WithDbAsync(other => other.Database.ExecuteSqlInterpolatedAsync($"""UPDATE "RateWindows" SET "Count" = "Count" + 1 WHERE "Key" = {Key}"""));

        // It waits; a read meanwhile is answered at once (WAL readers need no lock) and sees nothing committed.
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, await app.WithDbAsync(other => other.Set<Features.Accounts.Attempts.RateWindow>().CountAsync(w => w.Key == Key)));
        await transaction.CommitAsync();

        Assert.Equal(1, await waiting);
        Assert.Equal(2, await app.WithDbAsync(other => other.Set<Features.Accounts.Attempts.RateWindow>().Where(w => w.Key == Key).Select(w => w.Count).SingleAsync()));
    }

    [Fact]
    public async Task A_write_waiting_past_the_busy_timeout_fails_as_busy_and_changes_nothing()
    {
        using var app = new PortalAppFactory().WithSetting("Database:BusyTimeoutMilliseconds", "300");
        await using var holder = app.Services.CreateAsyncScope();
        var db = holder.ServiceProvider.GetRequiredService<PortalDbContext>();

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => app.WithDbAsync(other =>
                other.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 1)""")));
            Assert.Equal(DatabaseFailure.Busy, DatabaseFailures.Classify(refused));
        }

        // Disposed without a commit: rolled back, and the next writer goes.
        Assert.Equal(0, await app.WithDbAsync(other => other.Set<Features.Accounts.Attempts.RateWindow>().CountAsync(w => w.Key == Key)));
        Assert.Equal(1, await app.WithDbAsync(other =>
            other.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 1)""")));
    }

    [Fact]
    public async Task Fifty_parallel_writers_each_get_their_turn_and_every_increment_counts()
    {
        using var app = new PortalAppFactory();
        await app.WithDbAsync(db => db.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 0)"""));

        // Half in transactions that read then write (the pattern the gate must keep atomic), half single statements.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() => app.WithDbAsync(async db =>
        {
            if (i % 2 == 0)
            {
                return await db.Database.ExecuteSqlInterpolatedAsync($"""UPDATE "RateWindows" SET "Count" = "Count" + 1 WHERE "Key" = {Key}""");
            }

            await using var transaction = await db.Database.BeginTransactionAsync();
            var count = await db.Set<Features.Accounts.Attempts.RateWindow>().Where(w => w.Key == Key).Select(w => w.Count).SingleAsync();
            var written = await db.Database.ExecuteSqlInterpolatedAsync($"""UPDATE "RateWindows" SET "Count" = {count + 1} WHERE "Key" = {Key}""");
            await transaction.CommitAsync();
            return written;
        }))));

        Assert.Equal(50, await app.WithDbAsync(db => db.Set<Features.Accounts.Attempts.RateWindow>().Where(w => w.Key == Key).Select(w => w.Count).SingleAsync()));
    }

    [Fact]
    public async Task A_transaction_disposed_unfinished_on_a_connection_that_stays_open_lets_the_next_writer_in_at_once()
    {
        // As the app API uses its context: the connection opened for the whole call, a transaction left by an early return.
        using var app = new PortalAppFactory().WithSetting("Database:BusyTimeoutMilliseconds", "1000");
        await using var call = app.Services.CreateAsyncScope();
        var db = call.ServiceProvider.GetRequiredService<PortalDbContext>();
        await db.Database.OpenConnectionAsync();
        await using (await db.Database.BeginTransactionAsync())
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 1)""");
        }

        // The call's connection is still open; another writer of the node must not wait for it to close (it would fail
        // busy after the timeout).
        Assert.Equal(1, await app.WithDbAsync(other =>
            other.Database.ExecuteSqlInterpolatedAsync($"""INSERT INTO "RateWindows" ("Key", "WindowStart", "Count") VALUES ({Key}, 0, 1)""")));
        await db.Database.CloseConnectionAsync();
    }
}
