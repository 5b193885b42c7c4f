namespace AccountsPortal.Data;

/// <summary>Where the portal keeps its data. Bound from the "Database" configuration section.</summary>
public sealed class DatabaseOptions
{
    public const string SectionName = "Database";

    /// <summary>SQLite file path; relative paths are resolved against the content root.</summary>
    public string SqlitePath { get; set; } = "App_Data/portal.db";

    /// <summary>How long a connection waits for another writer's lock before failing.</summary>
    public int BusyTimeoutMilliseconds { get; set; } = 5000;

    public string ResolveSqlitePath(string contentRootPath) =>
        Path.GetFullPath(SqlitePath, contentRootPath);
}
