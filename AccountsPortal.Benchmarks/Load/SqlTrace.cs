using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>
/// What one passkey step costs the database: one SQLite node with EF Core's command, transaction and connection
/// events and ASP.NET Core's request events in its JSON console log, a few steps to warm up (one per account, so each
/// account's first app sign-in is out of the way), then K steps one after the other. Each request's lines lie between
/// its "Request starting" and the next; per request kind it counts statements, connection opens (each also runs the
/// portal's PRAGMA batch, which EF does not log), transactions and commits (a write outside a transaction commits by
/// itself), and lists the statements. Written to <c>sql-trace.md</c>.
/// </summary>
public static partial class SqlTrace
{
    private const int Accounts = 4;

    /// <summary>Runs the trace; returns the exit code.</summary>
    public static async Task<int> RunAsync(LoadOptions options, int steps)
    {
        ArgumentNullException.ThrowIfNull(options);
        var traced = LoadOptions.Parse(
        [
            "--provider", "sqlite", "--nodes", "1", "--out", options.OutputDirectory,
            "--portal-setting", "Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command=Information",
            "--portal-setting", "Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Transaction=Debug",
            "--portal-setting", "Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Connection=Debug",
            "--portal-setting", "Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics=Information",
            .. options.PortalSettings.SelectMany(s => new[] { "--portal-setting", $"{s.Key}={s.Value}" }),
        ]);
        await using var cluster = PortalCluster.Create(new LoadConfiguration(DatabaseProvider.Sqlite, 1), traced);
        await cluster.StartAsync();
        using var seeded = await LoginSeeder.SeedAsync(cluster, Accounts, Accounts + steps, Console.Out);
        var node = cluster.Nodes[0];
        using var http = PasskeyStepClient.CreateHttpClient(node.Origin);
        var client = new PasskeyStepClient(http, http);
        var requests = 0;
        var firstTraced = 0;
        foreach (var (login, index) in seeded.Logins.Select((login, index) => (login, index)))
        {
            if (index == Accounts)
            {
                await WaitForRequestsAsync(node, requests);
                firstTraced = node.StandardOutput.Count;
            }

            var sample = await client.RunAsync(login);
            requests += 2;
            if (sample.Error is not null)
            {
                await Console.Error.WriteLineAsync($"A traced step failed: {sample.Error}");
                return 1;
            }
        }

        await WaitForRequestsAsync(node, requests);
        var lines = node.StandardOutput.Skip(firstTraced).ToList();
        var report = Report(Split(lines), steps);
        Console.WriteLine(report);
        await File.WriteAllTextAsync(Path.Combine(options.OutputDirectory, "sql-trace.md"), report);
        await cluster.SaveOutputAsync(options.OutputDirectory, "sql-trace");
        return 0;
    }

    /// <summary>Waits (up to 10 s) until the node has logged <paramref name="count"/> finished requests.</summary>
    private static async Task WaitForRequestsAsync(Tests.TestSupport.PortalProcess node, int count)
    {
        for (var i = 0; i < 100 && node.StandardOutput.Count(l => l.Contains("\"Request finished", StringComparison.Ordinal)) < count; i++)
        {
            await Task.Delay(100);
        }
    }

    /// <summary>The traced lines cut into requests, each with its kind ("options", "verify") and events.</summary>
    private static List<TracedRequest> Split(IEnumerable<string> lines)
    {
        var requests = new List<TracedRequest>();
        TracedRequest? current = null;
        string? openTransaction = null;
        foreach (var line in lines)
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }

            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            var category = root.GetProperty("Category").GetString();
            var eventId = root.GetProperty("EventId").GetInt32();
            var state = root.TryGetProperty("State", out var s) ? s : default;
            switch (category, eventId)
            {
                case ("Microsoft.AspNetCore.Hosting.Diagnostics", 1):
                    var path = state.GetProperty("Path").GetString() ?? "";
                    current = new TracedRequest(path.EndsWith("/options", StringComparison.Ordinal) ? "options" : "verify");
                    requests.Add(current);
                    openTransaction = null;
                    break;
                case ("Microsoft.AspNetCore.Hosting.Diagnostics", 2) when current is not null:
                    current.Milliseconds = state.GetProperty("ElapsedMilliseconds").GetDouble();
                    break;
                case ("Microsoft.EntityFrameworkCore.Database.Connection", 20001) when current is not null:
                    current.ConnectionOpens++;
                    break;
                case ("Microsoft.EntityFrameworkCore.Database.Transaction", 20200) when current is not null:
                    current.Transactions++;
                    openTransaction = "open";
                    break;
                case ("Microsoft.EntityFrameworkCore.Database.Transaction", 20202) when current is not null:
                    current.Commits++;
                    openTransaction = null;
                    break;
                case ("Microsoft.EntityFrameworkCore.Database.Transaction", 20203 or 20204):
                    openTransaction = null;
                    break;
                case ("Microsoft.EntityFrameworkCore.Database.Command", 20101) when current is not null:
                    var text = Whitespace().Replace(state.GetProperty("commandText").GetString() ?? "", " ").Trim();
                    var elapsed = double.Parse(state.GetProperty("elapsed").GetString() ?? "0", CultureInfo.InvariantCulture);
                    var write = text.StartsWith("INSERT", StringComparison.OrdinalIgnoreCase) || text.StartsWith("UPDATE", StringComparison.OrdinalIgnoreCase)
                        || text.StartsWith("DELETE", StringComparison.OrdinalIgnoreCase) || text.Contains("RETURNING", StringComparison.OrdinalIgnoreCase);
                    current.Statements.Add(new TracedStatement(text, elapsed, write, openTransaction is not null));
                    if (write && openTransaction is null)
                    {
                        current.Commits++;
                    }

                    break;
            }
        }

        return requests;
    }

    private static string Report(List<TracedRequest> requests, int steps)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# SQL of one passkey step (SQLite, one node, {steps} sequential steps traced, averages per step)");
        text.AppendLine();
        text.AppendLine("| request | HTTP ms (server) | statements | of which writes | connection opens (+1 PRAGMA batch each) | transactions | commits |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var kind in new[] { "options", "verify" })
        {
            var of = requests.Where(r => r.Kind == kind).ToList();
            if (of.Count == 0)
            {
                continue;
            }

            text.Append(CultureInfo.InvariantCulture, $"| {kind} | {of.Average(r => r.Milliseconds):F2} | {of.Average(r => r.Statements.Count):F1} | {of.Average(r => r.Statements.Count(s => s.Write)):F1} | ");
            text.AppendLine(CultureInfo.InvariantCulture, $"{of.Average(r => r.ConnectionOpens):F1} | {of.Average(r => r.Transactions):F1} | {of.Average(r => r.Commits):F1} |");
        }

        foreach (var kind in new[] { "options", "verify" })
        {
            var of = requests.Where(r => r.Kind == kind).ToList();
            if (of.Count == 0)
            {
                continue;
            }

            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"## {kind}: statements in order (first traced request), with the mean EF-reported ms over {of.Count} requests");
            text.AppendLine();
            var first = of[0];
            for (var i = 0; i < first.Statements.Count; i++)
            {
                var statement = first.Statements[i];
                var mean = of.Where(r => r.Statements.Count > i).Average(r => r.Statements[i].Milliseconds);
                var where = statement.Write ? (statement.InTransaction ? "write, in transaction" : "write, autocommit") : "read";
                var shown = statement.Text.Length > 220 ? statement.Text[..220] + " …" : statement.Text;
                text.AppendLine(CultureInfo.InvariantCulture, $"{i + 1}. ({where}, {mean:F2} ms) `{shown}`");
            }
        }

        return text.ToString();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed record TracedStatement(string Text, double Milliseconds, bool Write, bool InTransaction);

    private sealed class TracedRequest(string kind)
    {
        public string Kind { get; } = kind;

        public double Milliseconds { get; set; }

        public int ConnectionOpens { get; set; }

        public int Transactions { get; set; }

        public int Commits { get; set; }

        public List<TracedStatement> Statements { get; } = [];
    }
}
