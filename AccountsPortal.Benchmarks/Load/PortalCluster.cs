using System.Globalization;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>
/// One or two portal processes (<see cref="PortalProcess"/>: <c>dotnet AccountsPortal.dll</c> from the benchmark's
/// output folder, so the Release build under <c>-c Release</c>) over one database, configured as an operator would by
/// environment variables: Production, logging at Warning, rate limits still checked but set to 1,000,000 a minute, the
/// test app registered, and one public origin for every node, as behind a load balancer.
/// </summary>
public sealed class PortalCluster : IAsyncDisposable
{
    /// <summary>The origin clients sign for: the one public address the nodes are served under, whichever node answers.</summary>
    public const string PublicOrigin = "http://localhost";

    /// <summary>Rate limits raised out of the way; they are still checked on every attempt.</summary>
    public const string RaisedRateLimit = "1000000";

    /// <summary>
    /// Where a PostgreSQL run points Database:SqlitePath: a path that cannot be created, so a portal that does not
    /// know Database:Provider=Postgres fails at start instead of quietly running on a new SQLite file.
    /// </summary>
    private const string NoSqlitePath = "/proc/accountsportal-load-uses-postgres/portal.db";

    private const string ConnectionStringKey = "Database:ConnectionString";

    private readonly List<PortalProcess> nodes = [];
    private readonly Dictionary<string, string?> settings;
    private readonly DirectoryInfo? sqliteFolder;

    // The server a PostgreSQL cluster's database is made on, and that database once made (dropped at the end).
    private readonly string? postgresServer;
    private string? postgresDatabase;

    private PortalCluster(LoadConfiguration configuration, Dictionary<string, string?> settings, DirectoryInfo? sqliteFolder, string? postgresServer)
    {
        Configuration = configuration;
        this.settings = settings;
        this.sqliteFolder = sqliteFolder;
        this.postgresServer = postgresServer;
    }

    /// <summary>What this cluster runs.</summary>
    public LoadConfiguration Configuration { get; }

    /// <summary>
    /// The configuration every node gets, and so the seeding host too: database, origin, app client, rate limits and
    /// the <c>--portal-setting</c> extras.
    /// </summary>
    public IReadOnlyDictionary<string, string?> Settings => settings;

    /// <summary>The running nodes, A first.</summary>
    public IReadOnlyList<PortalProcess> Nodes => nodes;

    /// <summary>
    /// A cluster of <paramref name="configuration"/>, not started yet. Each gets a database of its own: a SQLite one a new
    /// file in a temporary folder, a PostgreSQL one a new database on the server <c>--connection</c> names, made when it
    /// starts and dropped when it is disposed (a second configuration on the first one's rows and dead tuples would
    /// not measure the same thing).
    /// </summary>
    public static PortalCluster Create(LoadConfiguration configuration, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        DirectoryInfo? folder = null;
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Passkeys:Origins:0"] = PublicOrigin,
            ["Passkeys:RelyingPartyId"] = "localhost",
            ["Apps:Clients:0:ClientId"] = AppApiClient.ClientId,
            ["Apps:Clients:0:Name"] = AppApiClient.ClientName,
            ["Apps:Clients:0:RedirectUris:0"] = AppApiClient.HttpsRedirect,
            ["RateLimits:RequestsPerMinutePerIp"] = RaisedRateLimit,
            ["RateLimits:AttemptsPerMinutePerAccount"] = RaisedRateLimit,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        if (configuration.Provider == DatabaseProvider.Sqlite)
        {
            folder = Directory.CreateTempSubdirectory("accountsportal-load-");
            settings["Database:SqlitePath"] = Path.Combine(folder.FullName, "portal.db");
        }
        else
        {
            // The database is made on this server when the cluster starts; the portal's PostgreSQL provider reads these.
            settings["Database:Provider"] = "Postgres";
            settings[ConnectionStringKey] = options.PostgresConnection;
            settings["Database:SqlitePath"] = NoSqlitePath;
        }

        foreach (var (key, value) in options.PortalSettings)
        {
            settings[key] = value;
        }

        // A database named with --portal-setting Database:ConnectionString is used as it is, and neither made nor dropped.
        var makeOn = configuration.Provider == DatabaseProvider.Postgres && !options.PortalSettings.ContainsKey(ConnectionStringKey)
            ? options.PostgresConnection
            : null;
        return new PortalCluster(configuration, settings, folder, makeOn);
    }

    /// <summary>
    /// Makes a PostgreSQL cluster's database, then starts the nodes one after the other (the first one migrates the
    /// database) and waits until each is healthy.
    /// </summary>
    /// <exception cref="InvalidOperationException">The database could not be made (the user needs <c>CREATEDB</c>), or a node did not start.</exception>
    public async Task StartAsync()
    {
        if (postgresServer is not null && postgresDatabase is null)
        {
            try
            {
                postgresDatabase = await PostgresServer.CreateDatabaseAsync(postgresServer, prefix: "portal_load_");
            }
            catch (ArgumentException exception)
            {
                throw new InvalidOperationException("The PostgreSQL connection string is not valid: " + exception.Message, exception);
            }
            catch (Npgsql.PostgresException exception) when (exception.SqlState == Npgsql.PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new InvalidOperationException(
                    "Could not make a database of this run's own on the PostgreSQL server (its user needs CREATEDB): " + exception.Message, exception);
            }
            catch (Npgsql.NpgsqlException exception)
            {
                throw new InvalidOperationException("Could not make a database of this run's own on the PostgreSQL server: " + exception.Message, exception);
            }

            settings[ConnectionStringKey] = postgresDatabase;
        }

        for (var i = 0; i < Configuration.Nodes; i++)
        {
            var node = new PortalProcess("Production");
            foreach (var (key, value) in Settings)
            {
                node.With(key, value);
            }

            nodes.Add(node);
            try
            {
                await node.StartAsync();
            }
            catch (InvalidOperationException exception) when (Configuration.Provider == DatabaseProvider.Postgres)
            {
                throw new InvalidOperationException(
                    "The portal did not start on PostgreSQL. Does this build of AccountsPortal have the Database:Provider=Postgres "
                    + "provider, and is the connection string right? " + exception.Message, exception);
            }
        }
    }

    /// <summary>The CPU time the nodes used so far, added up.</summary>
    public TimeSpan ProcessorTime()
    {
        var total = TimeSpan.Zero;
        foreach (var id in nodes.Select(node => node.ProcessId).OfType<int>())
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(id);
                total += process.TotalProcessorTime;
            }
            catch (ArgumentException)
            {
                // It exited; the run reports its errors.
            }
        }

        return total;
    }

    // The PostgreSQL database this cluster made, if it did; one that cannot be dropped is named on stderr, and the run
    // goes on (its figures stand).
    private async Task DropDatabaseAsync()
    {
        if (postgresDatabase is null)
        {
            return;
        }

        try
        {
            await PostgresServer.DropAsync(postgresDatabase, postgresServer);
        }
        catch (Npgsql.NpgsqlException exception)
        {
            await Console.Error.WriteLineAsync(
                $"  Could not drop the run's database {new Npgsql.NpgsqlConnectionStringBuilder(postgresDatabase).Database}: {exception.Message}");
        }
    }

    /// <summary>Writes each node's stdout and stderr to <paramref name="folder"/> as <c>{prefix}-node-A.log</c>, ….</summary>
    public async Task SaveOutputAsync(string folder, string prefix)
    {
        for (var i = 0; i < nodes.Count; i++)
        {
            var name = Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"{prefix}-node-{(char)('A' + i)}.log"));
            await File.WriteAllLinesAsync(name, nodes[i].StandardOutput.Concat(nodes[i].StandardError));
        }
    }

    /// <summary>Stops every node gracefully and deletes the SQLite folder or drops the PostgreSQL database.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var node in nodes)
            {
                try
                {
                    await node.StopAsync();
                }
                finally
                {
                    await node.DisposeAsync();
                }
            }
        }
        finally
        {
            // Also after a node that would not stop (disposing it killed it): the run's database goes either way.
            await DropDatabaseAsync();
        }

        try
        {
            sqliteFolder?.Delete(recursive: true);
        }
        catch (IOException)
        {
            // The temporary folder is the OS's to clean.
        }
    }
}
