// The HTTP load driver for the passkey step of an app login (issue 12). One command runs the whole matrix:
//
//   dotnet run -c Release --project AccountsPortal.Benchmarks -- load --clients 32 --seconds 10
//
// For each configuration (SQLite with 1 and 2 portal processes; PostgreSQL too when --connection or PORTAL_BENCH_POSTGRES
// names a server, each on a new database there) it seeds accounts with passkeys and app logins awaiting the passkey, starts the Release portal as
// separate processes, runs the clients, and then, in this process, bare Fido2NetLib MakeAssertionAsync on the same
// inputs, and the same clients against a bare Kestrel serving the step from memory (the floor: no database). The
// table is printed and written to results.md and results.csv under --out. `load --help` lists the options.
using System.Globalization;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>The <c>load</c> mode of the benchmarks program.</summary>
public static class LoadCommand
{
    /// <summary>Runs <c>load</c> with the arguments after it; returns the exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(LoadOptions.Usage);
            return 0;
        }

        LoadOptions options;
        try
        {
            options = LoadOptions.Parse(args);
        }
        catch (ArgumentException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message);
            await Console.Error.WriteLineAsync(LoadOptions.Usage);
            return 2;
        }

        Directory.CreateDirectory(options.OutputDirectory);
        if (options.TraceSqlSteps is { } steps)
        {
            return await SqlTrace.RunAsync(options, steps);
        }

        var users = Math.Max(options.Users, options.Clients);
        var rows = new List<ResultRow>();
        SeededLogins? bareInputs = null;
        try
        {
            foreach (var configuration in options.Configurations())
            {
                Console.WriteLine($"== {configuration.Name}: starting the portal, then seeding {options.SessionsPerConfiguration} logins over {users} accounts");
                await using var cluster = PortalCluster.Create(configuration, options);
                SeededLogins? seeded = null;
                try
                {
                    // The nodes first: a portal that cannot run this configuration fails here, with its own words.
                    await cluster.StartAsync();
                    seeded = await LoginSeeder.SeedAsync(cluster, users, options.SessionsPerConfiguration, Console.Out);
                    Console.WriteLine($"  portal process ids: {string.Join(", ", cluster.Nodes.Select(n => n.ProcessId))}; "
                        + $"{options.Clients} clients, {options.Warmup.TotalSeconds:F0} s warm-up, {options.Duration.TotalSeconds:F0} s measured");
                    var row = await LoadRun.RunAsync(cluster, seeded, options);
                    rows.Add(row);
                    Console.WriteLine(ResultsTable.Console([row]));
                    WarnIfUnsteady(row);
                }
                catch (Exception exception) when (exception is InvalidOperationException or TimeoutException or IOException)
                {
                    // One configuration that cannot run does not stop the others.
                    await Console.Error.WriteLineAsync($"  {configuration.Name} failed: {exception.Message}");
                    rows.Add(ResultRow.Failed(configuration.Name, options.Clients, options.Duration.TotalSeconds, exception.Message));
                }
                finally
                {
                    await cluster.SaveOutputAsync(options.OutputDirectory, Slug(configuration));
                    if (bareInputs is null)
                    {
                        bareInputs = seeded;
                    }
                    else
                    {
                        seeded?.Dispose();
                    }
                }
            }

            if (bareInputs is not null)
            {
                Console.WriteLine($"== in-process MakeAssertionAsync: {options.Clients} tasks for {options.BareDuration.TotalSeconds:F0} s");
                rows.Add(await BareAssertionRun.RunAsync(bareInputs.Users, options.Clients, options.BareDuration));

                // The floor serves from memory: a login may come round again (its options are new each time), so the
                // seeded list is gone through as often as 10,000 steps a second would need.
                Console.WriteLine($"== {HttpFloorRun.Name}: {options.Clients} clients, {options.Warmup.TotalSeconds:F0} s warm-up, {options.Duration.TotalSeconds:F0} s measured");
                var rounds = (int)Math.Ceiling(10_000 * (options.Warmup + options.Duration).TotalSeconds / bareInputs.Logins.Count);
                var again = new SeededLogins(bareInputs.Users, [.. Enumerable.Repeat(bareInputs.Logins, rounds).SelectMany(logins => logins)], bareInputs.Elapsed);
                var floor = await HttpFloorRun.RunAsync(again, options);
                rows.Add(floor);
                Console.WriteLine(ResultsTable.Console([floor]));
                WarnIfUnsteady(floor);
            }
        }
        finally
        {
            bareInputs?.Dispose();
        }

        Console.WriteLine();
        Console.WriteLine(ResultsTable.Console(rows));
        await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "results.md"), ResultsTable.Markdown(rows, options));
        await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "results.csv"), ResultsTable.Csv(rows));
        Console.WriteLine($"Written: {Path.Combine(options.OutputDirectory, "results.md")} and results.csv");
        return 0;
    }

    /// <summary>"sqlite-1node", for file names.</summary>
    public static string Slug(LoadConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return string.Create(CultureInfo.InvariantCulture, $"{configuration.Provider.ToString().ToLowerInvariant()}-{configuration.Nodes}node");
    }

    // A row whose clients ran out of seeded logins measured a lighter load than asked for, and one whose server (a portal,
    // or the floor's bare Kestrel) sped up during the window measured it before its steady state (both also in
    // results.md's notes).
    private static void WarnIfUnsteady(ResultRow row)
    {
        if (row.ClientsRanOut > 0)
        {
            Console.WriteLine($"  WARNING: {row.ClientsRanOut} of {row.Clients} clients ran out of seeded logins before the window closed: "
                + "these figures read low. Seed more with --sessions.");
        }

        if (row.StillWarmingUp)
        {
            Console.WriteLine($"  WARNING: the window's second half was more than {LoadRun.StillWarmingRatio - 1:P0} faster than its first: the server was still warming up "
                + "and these figures read low. Lengthen --warmup.");
        }
    }
}
