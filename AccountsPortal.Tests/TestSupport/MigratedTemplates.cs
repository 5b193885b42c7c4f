using AccountsPortal.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A database the portal's migrations were applied to once in this test run, copied for each portal and service test in
/// place of migrating an empty database every time: a SQLite file, and a PostgreSQL database on the tests' server that
/// new ones are created from (<c>CREATE DATABASE … TEMPLATE</c>). What a test starts from is what the migrations made,
/// as before; the portal's start still runs its own migration step and finds nothing pending. Measured on the 2-core
/// machine: a portal's start took 620–880 ms (825–1,090 ms of CPU) on an empty SQLite file and 250–330 ms on a copy;
/// on PostgreSQL 1.0–1.7 s, where a copy of the template takes 50–80 ms to create. Tests of the start itself begin
/// from an empty database (<see cref="PortalAppFactory.WithEmptyDatabase"/>, and <c>PostgresFailureTests</c>' own cluster).
/// </summary>
public static class MigratedTemplates
{
    private static readonly Lazy<string> SqliteFile = new(CreateSqliteFile, LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<string> PostgresDatabase = new(CreatePostgresDatabase, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Copies the migrated SQLite file to <paramref name="path"/> (owner-only, 0600, as a file the portal creates). The
    /// file appears whole or not at all: it is copied beside it and then moved in place.
    /// </summary>
    /// <exception cref="IOException"><paramref name="path"/> exists already; nothing was changed.</exception>
    public static void CopySqliteTo(string path)
    {
        var copy = $"{path}.{Guid.NewGuid():N}.copy";
        try
        {
            // A copy that fails half-way (a full disk) is deleted below too.
            File.Copy(SqliteFile.Value, copy);
            File.Move(copy, path, overwrite: false);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>Creates a database of its own on the tests' PostgreSQL server from the migrated one; <see cref="PostgresServer.DropAsync"/> removes it.</summary>
    /// <returns>The connection string to the new database.</returns>
    public static Task<string> CreatePostgresDatabaseAsync() => PostgresServer.CreateDatabaseAsync(template: PostgresDatabase.Value);

    private static string CreateSqliteFile()
    {
        var folder = Directory.CreateTempSubdirectory("accountsportal-template-");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Forget(() => folder.Delete(recursive: true));
        var path = Path.Combine(folder.FullName, "portal.db");
        using (var db = new SqlitePortalDbContext(new DbContextOptionsBuilder<SqlitePortalDbContext>()
            .UseSqlite(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()).Options))
        {
            db.Database.Migrate();
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return path;
    }

    private static string CreatePostgresDatabase()
    {
        var connectionString = PostgresServer.CreateDatabaseAsync().GetAwaiter().GetResult();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Forget(() => PostgresServer.DropAsync(connectionString).GetAwaiter().GetResult());
        // No pooling: PostgreSQL copies a template only while no session is connected to it.
        var unpooled = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;
        using (var db = new PostgresPortalDbContext(new DbContextOptionsBuilder<PostgresPortalDbContext>().UseNpgsql(unpooled).Options))
        {
            db.Database.Migrate();
        }

        return new NpgsqlConnectionStringBuilder(connectionString).Database!;
    }

    // At the test process's exit: a server already stopped (a cluster of the run's own) or a file still open leaves
    // something in a temporary place, never a failed run.
    private static void Forget(Action cleanUp)
    {
        try
        {
            cleanUp();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or NpgsqlException or System.Net.Sockets.SocketException)
        {
        }
    }
}
