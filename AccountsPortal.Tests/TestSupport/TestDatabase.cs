using AccountsPortal.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A migrated database of its own, for tests of services: a SQLite file, or a new database on the tests' PostgreSQL
/// server (<see cref="PostgresServer"/>). Tests that hold for every provider take the provider as a parameter.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly DirectoryInfo? directory;

    private TestDatabase(DatabaseProvider provider, DirectoryInfo? directory, string connectionString)
    {
        Provider = provider;
        this.directory = directory;
        ConnectionString = connectionString;
    }

    public DatabaseProvider Provider { get; }

    /// <summary>The SQLite file's connection string, or the PostgreSQL database's.</summary>
    public string ConnectionString { get; }

    public static async Task<TestDatabase> CreateAsync(DatabaseProvider provider = DatabaseProvider.Sqlite)
    {
        if (provider == DatabaseProvider.Postgres)
        {
            return new TestDatabase(provider, null, await MigratedTemplates.CreatePostgresDatabaseAsync());
        }

        var directory = Directory.CreateTempSubdirectory("accountsportal-db-");
        var path = Path.Combine(directory.FullName, "portal.db");
        MigratedTemplates.CopySqliteTo(path);
        return new TestDatabase(provider, directory, $"Data Source={path};Default Timeout=5");
    }

    public PortalDbContext CreateContext() => Provider == DatabaseProvider.Postgres
        ? new PostgresPortalDbContext(new DbContextOptionsBuilder<PostgresPortalDbContext>().UseNpgsql(ConnectionString).Options)
        : new SqlitePortalDbContext(new DbContextOptionsBuilder<SqlitePortalDbContext>()
            .UseSqlite(ConnectionString)
            .AddInterceptors(new SqliteConnectionPragmas(5000))
            .Options);

    public async ValueTask DisposeAsync()
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            await PostgresServer.DropAsync(ConnectionString);
            return;
        }

        SqliteConnection.ClearAllPools();
        directory!.Delete(recursive: true);
    }
}
