using System.Globalization;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>The database a load run puts under the portal.</summary>
public enum DatabaseProvider
{
    /// <summary>One SQLite file in a temporary folder, new for each configuration.</summary>
    Sqlite,

    /// <summary>
    /// A new PostgreSQL database for each configuration, made on the server a connection string names and dropped
    /// afterwards (<see cref="PortalCluster"/>; the string's user needs <c>CREATEDB</c>).
    /// </summary>
    Postgres,
}

/// <summary>One cell of the matrix: a database and how many portal processes share it.</summary>
/// <param name="Provider">The database.</param>
/// <param name="Nodes">1, or 2 (then every step asks node A for options and node B to verify).</param>
public sealed record LoadConfiguration(DatabaseProvider Provider, int Nodes)
{
    /// <summary>"sqlite, 1 node", "postgres, 2 nodes (cross-node)".</summary>
    public string Name => $"{Provider.ToString().ToLowerInvariant()}, {Nodes} node{(Nodes == 1 ? "" : "s (cross-node)")}";
}

/// <summary>The command line of <c>load</c>; see <see cref="Usage"/>.</summary>
public sealed class LoadOptions
{
    /// <summary>The environment variable that, when set, holds the PostgreSQL connection string for the matrix.</summary>
    public const string PostgresVariable = "PORTAL_BENCH_POSTGRES";

    /// <summary>What <c>load --help</c> prints.</summary>
    public const string Usage = """
        Usage: dotnet run -c Release --project AccountsPortal.Benchmarks -- load [options]
          --clients N        concurrent app clients (default 32)
          --seconds T        measured seconds per configuration (default 10)
          --warmup W         seconds run before the measured window and left out of it (default 60: a new portal
                             process JIT-compiles and tiers up under load; two processes with PostgreSQL on the same
                             2 cores were still doing so after 30 s)
          --provider P       sqlite | postgres (default: sqlite, and postgres too when a connection string is known)
          --connection CS    Npgsql connection string to a server where its user may create databases: each
                             configuration runs on a new one, dropped afterwards (default: PORTAL_BENCH_POSTGRES)
          --nodes 1|2        portal processes over the one database (default: both 1 and 2)
          --users U          accounts with a passkey that the seeded logins are spread over (default 256)
          --sessions M       login sessions seeded per configuration (default 1,600 per second of warm-up and run)
          --bare-seconds S   seconds of the in-process MakeAssertionAsync comparison (default: --seconds)
          --portal-setting KEY=VALUE   extra configuration for every portal process (repeatable),
                             e.g. Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command=Information
          --trace-sql K      instead of a load run: K sequential steps on SQLite, one node, with EF Core's command and
                             transaction log, then the statements and commits of one step
          --out DIR          where results.md, results.csv and the portals' output go
                             (default AccountsPortal.Benchmarks/results/<timestamp>/)
        """;

    /// <summary>Concurrent clients.</summary>
    public int Clients { get; private set; } = 32;

    /// <summary>Length of the measured window.</summary>
    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(10);

    /// <summary>Run before the measured window; its steps are not counted.</summary>
    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(60);

    /// <summary>The provider asked for, or null for the whole matrix.</summary>
    public DatabaseProvider? Provider { get; private set; }

    /// <summary>The PostgreSQL connection string, from <c>--connection</c> or <see cref="PostgresVariable"/>.</summary>
    public string? PostgresConnection { get; private set; }

    /// <summary>The node count asked for, or null for both 1 and 2.</summary>
    public int? Nodes { get; private set; }

    /// <summary>Accounts the sessions are spread over.</summary>
    public int Users { get; private set; } = 256;

    /// <summary>Login sessions to seed per configuration, or null for the default.</summary>
    public int? Sessions { get; private set; }

    /// <summary>Length of the in-process comparison.</summary>
    public TimeSpan BareDuration { get; private set; }

    /// <summary>Extra configuration for every portal process.</summary>
    public IReadOnlyDictionary<string, string> PortalSettings => portalSettings;

    /// <summary>Steps of a SQL trace instead of a load run; null for a load run.</summary>
    public int? TraceSqlSteps { get; private set; }

    /// <summary>The results folder.</summary>
    public string OutputDirectory { get; private set; } = "";

    private readonly Dictionary<string, string> portalSettings = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The login sessions seeded per configuration.</summary>
    public int SessionsPerConfiguration =>
        Sessions ?? (int)Math.Ceiling(1_600 * (Warmup + Duration).TotalSeconds);

    /// <summary>The configurations to run, in order.</summary>
    public IReadOnlyList<LoadConfiguration> Configurations()
    {
        var providers = Provider is { } only ? [only]
            : PostgresConnection is null ? [DatabaseProvider.Sqlite] : new[] { DatabaseProvider.Sqlite, DatabaseProvider.Postgres };
        var nodes = Nodes is { } n ? [n] : new[] { 1, 2 };
        return [.. providers.SelectMany(provider => nodes.Select(count => new LoadConfiguration(provider, count)))];
    }

    /// <summary>Parses the arguments after <c>load</c>; throws <see cref="ArgumentException"/> with a message for the user.</summary>
    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new LoadOptions();
        TimeSpan? bare = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--clients":
                    options.Clients = Positive(name, Value());
                    break;
                case "--seconds":
                    options.Duration = TimeSpan.FromSeconds(Positive(name, Value()));
                    break;
                case "--warmup":
                    options.Warmup = TimeSpan.FromSeconds(NonNegative(name, Value()));
                    break;
                case "--provider":
                    options.Provider = Value().ToLowerInvariant() switch
                    {
                        "sqlite" => DatabaseProvider.Sqlite,
                        "postgres" or "postgresql" => DatabaseProvider.Postgres,
                        var other => throw new ArgumentException($"--provider must be sqlite or postgres, not '{other}'."),
                    };
                    break;
                case "--connection":
                    options.PostgresConnection = Value();
                    break;
                case "--nodes":
                    options.Nodes = Value() switch
                    {
                        "1" => 1,
                        "2" => 2,
                        var other => throw new ArgumentException($"--nodes must be 1 or 2, not '{other}'."),
                    };
                    break;
                case "--users":
                    options.Users = Positive(name, Value());
                    break;
                case "--sessions":
                    options.Sessions = Positive(name, Value());
                    break;
                case "--bare-seconds":
                    bare = TimeSpan.FromSeconds(Positive(name, Value()));
                    break;
                case "--portal-setting":
                    var setting = Value();
                    var equals = setting.IndexOf('=', StringComparison.Ordinal);
                    if (equals <= 0)
                    {
                        throw new ArgumentException($"--portal-setting takes KEY=VALUE, not '{setting}'.");
                    }

                    options.portalSettings[setting[..equals]] = setting[(equals + 1)..];
                    break;
                case "--trace-sql":
                    options.TraceSqlSteps = Positive(name, Value());
                    break;
                case "--out":
                    options.OutputDirectory = Path.GetFullPath(Value());
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{name}'.");
            }
        }

        options.PostgresConnection ??= Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
        if (options.Provider == DatabaseProvider.Postgres && options.PostgresConnection is null)
        {
            throw new ArgumentException($"--provider postgres needs --connection or the {PostgresVariable} environment variable.");
        }

        options.BareDuration = bare ?? options.Duration;
        if (options.OutputDirectory.Length == 0)
        {
            options.OutputDirectory = DefaultOutputDirectory();
        }

        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"{name} must be a positive whole number, not '{value}'.");

    private static int NonNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new ArgumentException($"{name} must be a whole number, not '{value}'.");

    /// <summary>AccountsPortal.Benchmarks/results/&lt;timestamp&gt; beside the solution (found from the working folder up), else ./results/&lt;timestamp&gt;.</summary>
    private static string DefaultOutputDirectory()
    {
        var stamp = DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        for (var folder = new DirectoryInfo(Directory.GetCurrentDirectory()); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "AccountsPortal.sln")))
            {
                return Path.Combine(folder.FullName, "AccountsPortal.Benchmarks", "results", stamp);
            }
        }

        return Path.Combine(Directory.GetCurrentDirectory(), "results", stamp);
    }
}
