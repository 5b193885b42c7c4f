using AccountsPortal.Tests.TestSupport;
using Microsoft.Data.Sqlite;

namespace AccountsPortal.Tests.Unit;

/// <summary>Runs alone: a commit wakes one waiting writer of the process, and another test's waiter could take it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SqliteWakeUpCollection
{
    public const string Name = "SQLite wake-up, alone";
}

/// <summary>
/// The busy handler's wake-up (<see cref="AccountsPortal.Data.SqliteBusyHandler"/>): a writer waiting for the write lock
/// tries again when a commit of this process gives the lock back (SQLite's WAL hook), not only when its poll comes round.
/// </summary>
[Collection(SqliteWakeUpCollection.Name)]
public sealed class SqliteWakeUpTests
{
    [Fact]
    public async Task A_writer_waiting_for_the_lock_is_woken_by_the_commit_that_gives_it_back_and_writes_once()
    {
        using var app = new PortalAppFactory();
        await using var holder = await SqliteBusyHandlerTests.OpenWithHandlerAsync(app, timeoutMilliseconds: 60_000);
        // The waiter polls once a minute: within the 20 s allowed below, only the holder's commit can let it through.
        await using var writer = await SqliteBusyHandlerTests.OpenWithHandlerAsync(app, timeoutMilliseconds: 120_000, pollMilliseconds: 60_000);

        Task<int> write;
        await using (var transaction = (SqliteTransaction)await holder.BeginTransactionAsync())
        {
            Assert.Equal(1, SqliteBusyHandlerTests.InsertWindow(holder, "wake-up-holder", transaction));
            write = Task.Run(() => SqliteBusyHandlerTests.InsertWindow(writer, "wake-up-woken"));
            await Task.Delay(1500);
            Assert.False(write.IsCompleted, "The write went through (or gave up) while another connection held the write lock.");
            await transaction.CommitAsync();
        }

        var first = await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(ReferenceEquals(first, write), "The waiting writer was not woken by the commit that gave the lock back.");
        Assert.Equal(1, await write);
        Assert.Equal(1, await SqliteBusyHandlerTests.CountWindowsAsync(app, "wake-up-holder"));
        Assert.Equal(1, await SqliteBusyHandlerTests.CountWindowsAsync(app, "wake-up-woken"));
    }
}
