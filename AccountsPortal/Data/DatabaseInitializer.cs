using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AccountsPortal.Data;

/// <summary>
/// Runs before the host starts (and so before Data Protection reads its key ring from the database): applies the
/// configured provider's migrations and checks its settings. SQLite: makes sure the file can be written, switches it
/// to WAL and checks every connection setting took effect. PostgreSQL: connects and migrates; EF Core holds an
/// advisory lock while it migrates, so nodes starting together apply each migration once.
/// </summary>
public sealed class DatabaseInitializer(
    IServiceScopeFactory scopeFactory,
    IOptions<DatabaseOptions> options,
    IWebHostEnvironment environment,
    ILogger<DatabaseInitializer> logger)
{
    /// <exception cref="PortalStartupException">The database cannot be opened, written or migrated; the message says why.</exception>
    public Task InitializeAsync(CancellationToken cancellationToken = default) =>
        options.Value.Provider == DatabaseProvider.Postgres ? InitializePostgresAsync(cancellationToken) : InitializeSqliteAsync(cancellationToken);

    private async Task InitializeSqliteAsync(CancellationToken cancellationToken)
    {
        var path = options.Value.ResolveSqlitePath(environment.ContentRootPath);
        EnsureWritable(path);

        await using var scope = scopeFactory.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        try
        {
            await db.Database.OpenConnectionAsync(cancellationToken);
            await ExecuteScalarAsync(db, "PRAGMA journal_mode=WAL;", cancellationToken);
            await db.Database.MigrateAsync(cancellationToken);
            await CheckSqliteSettingsAsync(db, cancellationToken);
        }
        catch (SqliteException exception)
        {
            throw new PortalStartupException(
                $"The database '{path}' could not be opened or migrated: {exception.Message}", exception);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        DataLog.DatabaseReady(logger, path);
    }

    private async Task InitializePostgresAsync(CancellationToken cancellationToken)
    {
        var where = DescribePostgres(options.Value);
        await using var scope = scopeFactory.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        try
        {
            await db.Database.MigrateAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            throw new PortalStartupException(
                $"The PostgreSQL database {where} could not be reached or migrated: {exception.Message}", exception);
        }

        // An acknowledged change must survive a power cut: say so when the server was set to lose recent commits.
        var settings = await db.Database.SqlQueryRaw<string>(
            "SELECT name || '=' || setting AS \"Value\" FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') AND setting = 'off'")
            .ToListAsync(cancellationToken);
        if (settings.Count > 0)
        {
            DataLog.DatabaseNotDurable(logger, string.Join(", ", settings));
        }

        DataLog.DatabaseReady(logger, where);
    }

    /// <summary>Host, port and database of the connection string, never its password.</summary>
    private static string DescribePostgres(DatabaseOptions options)
    {
        var builder = new NpgsqlConnectionStringBuilder(DataExtensions.PostgresConnectionString(options));
        return $"'{builder.Database}' on {builder.Host}:{builder.Port}";
    }

    /// <summary>
    /// Makes sure the file can be written. A folder or file the portal creates is its owner's alone (0700 and 0600
    /// on Unix; SQLite gives its -wal and -shm files the database file's mode): it holds password hashes, the Data
    /// Protection key ring and session tickets. Existing ones keep the permissions their operator gave them.
    /// </summary>
    private static void EnsureWritable(string path)
    {
        try
        {
            var folder = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(folder))
            {
                if (OperatingSystem.IsWindows())
                {
                    Directory.CreateDirectory(folder);
                }
                else
                {
                    Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
            }

            // Opening for append proves we may write the file without changing it.
            var open = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
            if (!OperatingSystem.IsWindows())
            {
                open.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using var probe = new FileStream(path, open);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new PortalStartupException(
                $"The database path '{path}' is not writable ({exception.Message}). " +
                "Set Database:SqlitePath (or the environment variable Database__SqlitePath) to a writable location.",
                exception);
        }
    }

    private async Task CheckSqliteSettingsAsync(PortalDbContext db, CancellationToken cancellationToken)
    {
        var journalMode = await ExecuteScalarAsync(db, "PRAGMA journal_mode;", cancellationToken);
        var synchronous = await ExecuteScalarAsync(db, "PRAGMA synchronous;", cancellationToken);
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        var busyTimeout = SqliteBusyHandler.TimeoutOf(connection);
        var groupSync = SqliteBusyHandler.GroupSyncOf(connection);

        // synchronous: 2 means FULL, 1 NORMAL (group commit: the WAL hook syncs the log before a commit returns).
        var grouped = options.Value.SqliteCommitSync == SqliteCommitSync.Grouped;
        if (!string.Equals(journalMode, "wal", StringComparison.OrdinalIgnoreCase)
            || synchronous != (grouped ? "1" : "2")
            || (groupSync is not null) != grouped
            || busyTimeout != options.Value.BusyTimeoutMilliseconds)
        {
            throw new PortalStartupException(
                $"The database settings did not take effect (journal_mode={journalMode}, synchronous={synchronous}, group commit={(groupSync is null ? "off" : "on")}, busy handler timeout={busyTimeout?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} ms).");
        }
    }

    private static async Task<string?> ExecuteScalarAsync(PortalDbContext db, string sql, CancellationToken cancellationToken)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
