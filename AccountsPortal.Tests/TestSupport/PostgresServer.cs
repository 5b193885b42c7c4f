using System.Diagnostics;
using Npgsql;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// The PostgreSQL server the tests use, and a new empty database on it for each test or fixture. <c>./test.sh</c> starts
/// a throwaway cluster and passes its connection string in <c>PORTAL_TEST_POSTGRES</c>; when a test run was started
/// without it (a bare <c>dotnet test</c>), the first test that needs the server starts one the same way
/// (<c>scripts/postgres-test-cluster.sh</c>) and stops it when the test process exits.
/// </summary>
public static class PostgresServer
{
    /// <summary>The environment variable holding the server's connection string (to its <c>postgres</c> database).</summary>
    public const string Variable = "PORTAL_TEST_POSTGRES";

    private static readonly Lazy<string> Server = new(Connect, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A connection string to the server's maintenance database.</summary>
    public static string ConnectionString => Server.Value;

    /// <summary>Creates an empty database of its own (or a copy of <paramref name="template"/>); <see cref="DropAsync"/> removes it.</summary>
    /// <param name="server">The server's maintenance connection string; the tests' shared server when null.</param>
    /// <param name="template">A database on that server, with no session connected, to copy; PostgreSQL's default (empty) when null.</param>
    /// <param name="prefix">The new database's name before its random part.</param>
    /// <returns>The connection string to the new database.</returns>
    public static async Task<string> CreateDatabaseAsync(string? server = null, string? template = null, string prefix = "portal_test_")
    {
        server ??= ConnectionString;
        var name = prefix + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            var copying = template is null ? "" : $" TEMPLATE \"{template}\"";
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"{copying}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>Drops the database of <paramref name="connectionString"/>, ending any connection still open to it.</summary>
    /// <param name="connectionString">A connection string to the database to drop.</param>
    /// <param name="server">The server's maintenance connection string; the tests' shared server when null.</param>
    public static async Task DropAsync(string connectionString, string? server = null)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var connection = new NpgsqlConnection(server ?? ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string Connect()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
        {
            return given;
        }

        var cluster = PostgresCluster.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Dispose();
        return cluster.ConnectionString;
    }
}

/// <summary>
/// A throwaway PostgreSQL cluster of a test's own (<c>scripts/postgres-test-cluster.sh</c>): for outage tests that stop
/// and resume the server, and for <see cref="PostgresServer"/> when <c>./test.sh</c> did not start one.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    private readonly DirectoryInfo folder;
    private readonly string script;

    private PostgresCluster(DirectoryInfo folder, string script, string connectionString)
    {
        this.folder = folder;
        this.script = script;
        ConnectionString = connectionString;
    }

    /// <summary>A connection string to the cluster's <c>postgres</c> database.</summary>
    public string ConnectionString { get; }

    // The cluster lives in the temporary folder itself, so that the script's discard leaves nothing of it.
    private string Directory => folder.FullName;

    /// <summary>Initialises and starts a cluster on a free loopback port (about a second).</summary>
    public static PostgresCluster Start()
    {
        var folder = System.IO.Directory.CreateTempSubdirectory("accountsportal-postgres-");
        var script = Path.Combine(RepositoryRoot(), "scripts", "postgres-test-cluster.sh");
        return new PostgresCluster(folder, script, Run(script, "start", folder.FullName).Trim());
    }

    /// <summary>Stops the server at once (as a crash would: open connections break); <see cref="Resume"/> starts it again.</summary>
    public void Stop() => Run(script, "stop", Directory);

    /// <summary>Starts the stopped server again on its port, with its data.</summary>
    public void Resume() => Run(script, "resume", Directory);

    /// <summary>
    /// Stops the server and deletes its files in one run of the script: the test host may be ended moments after it asks
    /// (at process exit), and the script, a process of its own, still finishes.
    /// </summary>
    public void Dispose() => Run(script, "discard", Directory);

    private static string Run(string script, string command, string cluster)
    {
        using var process = Process.Start(new ProcessStartInfo(script, [command, cluster])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException($"{script} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{script} {command} did not finish in two minutes.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {command} failed ({process.ExitCode}): {errors.Result}");
        }

        return output.Result;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AccountsPortal.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository (AccountsPortal.sln) was not found above " + AppContext.BaseDirectory);
    }
}
