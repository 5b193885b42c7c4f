namespace AccountsPortal.Data;

/// <summary>Which database engine holds the portal's data.</summary>
public enum DatabaseProvider
{
    /// <summary>One SQLite file (<see cref="DatabaseOptions.SqlitePath"/>): one node, nothing else to run.</summary>
    Sqlite,

    /// <summary>A PostgreSQL database (<see cref="DatabaseOptions.ConnectionString"/>): any number of nodes share it.</summary>
    Postgres,
}

/// <summary>
/// How a SQLite commit reaches the disk before it returns. Either way a commit is acknowledged only once the write-ahead
/// log holding it has been synced, so it survives a power cut.
/// </summary>
public enum SqliteCommitSync
{
    /// <summary>
    /// Group commit (<see cref="SqliteGroupSync"/>): connections run with <c>synchronous=NORMAL</c>, and each commit waits,
    /// with the write lock already given back, for one sync of the log that began after it; one sync serves every commit
    /// written before it began.
    /// </summary>
    Grouped,

    /// <summary>SQLite's own <c>synchronous=FULL</c>: each commit syncs the log itself while it holds the write lock.</summary>
    PerCommit,
}

/// <summary>Where the portal keeps its data. Bound from the "Database" configuration section.</summary>
public sealed class DatabaseOptions
{
    public const string SectionName = "Database";

    /// <summary>The name under <c>ConnectionStrings</c> read when <see cref="ConnectionString"/> is not set.</summary>
    public const string ConnectionStringName = "Portal";

    /// <summary><c>Sqlite</c> (the default) or <c>Postgres</c>.</summary>
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>SQLite file path; relative paths are resolved against the content root. Only for <see cref="DatabaseProvider.Sqlite"/>.</summary>
    public string SqlitePath { get; set; } = "App_Data/portal.db";

    /// <summary>
    /// An Npgsql connection string (<c>Host=…;Port=…;Database=…;Username=…;Password=…</c>), for
    /// <see cref="DatabaseProvider.Postgres"/>; <c>ConnectionStrings:Portal</c> when unset.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// How long, in milliseconds, a statement waits for another writer's lock before it fails as busy (503): SQLite's
    /// <c>busy_timeout</c>, PostgreSQL's <c>lock_timeout</c> (unless the connection string's <c>Options</c> set one).
    /// </summary>
    public int BusyTimeoutMilliseconds { get; set; } = 5000;

    /// <summary>
    /// SQLite only: <c>Grouped</c> (the default, group commit) or <c>PerCommit</c> (<c>synchronous=FULL</c>); see
    /// <see cref="Data.SqliteCommitSync"/>.
    /// </summary>
    public SqliteCommitSync SqliteCommitSync { get; set; } = SqliteCommitSync.Grouped;

    public string ResolveSqlitePath(string contentRootPath) =>
        Path.GetFullPath(SqlitePath, contentRootPath);
}
