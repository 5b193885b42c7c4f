using System.Globalization;
using System.Text;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>The results as a console table, <c>results.md</c> and <c>results.csv</c>.</summary>
public static class ResultsTable
{
    private static readonly string[] Header =
        ["configuration", "clients", "seconds", "verified", "per second", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "portal CPU (cores)", "driver CPU (cores)"];

    /// <summary>The table in Markdown, with the errors and notes under it.</summary>
    public static string Markdown(IReadOnlyList<ResultRow> rows, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(options);
        var text = new StringBuilder();
        text.Append("# Passkey step under load — ").AppendLine(DateTime.Now.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture));
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"{options.Clients} clients, {options.Warmup.TotalSeconds:F0} s warm-up then {options.Duration.TotalSeconds:F0} s measured; {Environment.ProcessorCount} cores shared by the portal(s), the database and this driver; .NET {Environment.Version}.");
        text.AppendLine("A step is options + verify over HTTP; latency is the whole step, of verified steps.");
        text.AppendLine();
        text.AppendLine("| " + string.Join(" | ", Header) + " |");
        text.AppendLine("|" + string.Concat(Header.Select((_, i) => i == 0 ? " --- |" : " ---: |")));
        foreach (var row in rows)
        {
            text.AppendLine("| " + string.Join(" | ", Cells(row)) + " |");
        }

        text.AppendLine();
        foreach (var row in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- **{row.Name}**: {row.Note}{(row.ErrorCount == 0 ? "" : "; errors: " + ErrorText(row))}");
        }

        return text.ToString();
    }

    /// <summary>The table as CSV, one row per configuration, errors in one column ("status: count; …").</summary>
    public static string Csv(IReadOnlyList<ResultRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var text = new StringBuilder();
        text.AppendLine("configuration,clients,seconds,verified,per_second,p50_ms,p95_ms,p99_ms,max_ms,errors,portal_cpu_cores,driver_cpu_cores,error_breakdown,note");
        foreach (var row in rows)
        {
            string[] cells =
            [
                Quote(row.Name), Number(row.Clients), Number(row.Seconds, "F1"), Number(row.Verified), Number(row.Throughput, "F1"),
                CsvNumber(row.Latency.P50, "F2"), CsvNumber(row.Latency.P95, "F2"), CsvNumber(row.Latency.P99, "F2"), CsvNumber(row.Latency.Max, "F2"),
                Number(row.ErrorCount), CsvNumber(row.PortalCpu, "F2"), CsvNumber(row.DriverCpu, "F2"), Quote(ErrorText(row)), Quote(row.Note),
            ];
            text.AppendLine(string.Join(',', cells));
        }

        return text.ToString();
    }

    /// <summary>The table for the console.</summary>
    public static string Console(IReadOnlyList<ResultRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var table = new List<string[]> { Header };
        table.AddRange(rows.Select(Cells));
        var widths = Enumerable.Range(0, Header.Length).Select(c => table.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in table)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))));
        }

        foreach (var row in rows.Where(r => r.ErrorCount > 0))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"errors in {row.Name}: {ErrorText(row)}");
        }

        return text.ToString();
    }

    private static string[] Cells(ResultRow row) =>
    [
        row.Name, Number(row.Clients), Number(row.Seconds, "F0"), Number(row.Verified), Number(row.Throughput, "F0"),
        Number(row.Latency.P50, "F1"), Number(row.Latency.P95, "F1"), Number(row.Latency.P99, "F1"), Number(row.Latency.Max, "F1"),
        Number(row.ErrorCount), Number(row.PortalCpu, "F2"), Number(row.DriverCpu, "F2"),
    ];

    private static string ErrorText(ResultRow row) => string.Join("; ", row.Errors.Select(e => $"{e.Key}: {e.Value}"));

    private static string Number(double value, string format) => double.IsNaN(value) ? "—" : value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>An empty CSV cell for "not measured".</summary>
    private static string CsvNumber(double value, string format) => double.IsNaN(value) ? "" : value.ToString(format, CultureInfo.InvariantCulture);

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string value) => "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
