using AccountsPortal.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>A migrated SQLite file of its own, for unit tests of services.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("accountsportal-db-");

    private TestDatabase()
    {
        Path = System.IO.Path.Combine(directory.FullName, "portal.db");
    }

    public string Path { get; }

    public static async Task<TestDatabase> CreateAsync()
    {
        var database = new TestDatabase();
        await using var db = database.CreateContext();
        await db.Database.MigrateAsync();
        return database;
    }

    public PortalDbContext CreateContext() =>
        new(new DbContextOptionsBuilder<PortalDbContext>()
            .UseSqlite($"Data Source={Path};Default Timeout=5")
            .AddInterceptors(new SqliteConnectionPragmas(5000))
            .Options);

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        directory.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }
}
