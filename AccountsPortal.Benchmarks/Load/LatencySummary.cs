namespace AccountsPortal.Benchmarks.Load;

/// <summary>Percentiles of a set of durations, in milliseconds (nearest rank).</summary>
/// <param name="P50">Median.</param>
/// <param name="P95">95th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="Max">Longest.</param>
public sealed record LatencySummary(double P50, double P95, double P99, double Max)
{
    /// <summary>No samples.</summary>
    public static readonly LatencySummary None = new(double.NaN, double.NaN, double.NaN, double.NaN);

    /// <summary>Summarises <paramref name="milliseconds"/>.</summary>
    public static LatencySummary Of(IEnumerable<double> milliseconds)
    {
        var sorted = milliseconds.Order().ToArray();
        if (sorted.Length == 0)
        {
            return None;
        }

        double At(double percentile) => sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new LatencySummary(At(50), At(95), At(99), sorted[^1]);
    }
}

/// <summary>One row of the results table.</summary>
/// <param name="Name">"sqlite, 1 node", or the in-process comparison.</param>
/// <param name="Clients">Concurrent clients (or tasks).</param>
/// <param name="Seconds">Length of the measured window.</param>
/// <param name="Verified">Verified steps (or verifications) completed inside the window.</param>
/// <param name="Latency">Of the verified steps inside the window.</param>
/// <param name="Errors">Failed steps inside the window, by what went wrong.</param>
/// <param name="PortalCpu">Portal processes' CPU time over the window, as a share of one core (1.0 = one core busy), or NaN.</param>
/// <param name="DriverCpu">This process's CPU time over the window, as a share of one core.</param>
/// <param name="Note">Anything the reader must know (sessions ran out, seeding time).</param>
public sealed record ResultRow(
    string Name, int Clients, double Seconds, int Verified, LatencySummary Latency, IReadOnlyDictionary<string, int> Errors,
    double PortalCpu, double DriverCpu, string Note)
{
    /// <summary>A configuration that could not run, with why (the first line of the message).</summary>
    public static ResultRow Failed(string name, int clients, double seconds, string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return new(name, clients, seconds, 0, LatencySummary.None, new Dictionary<string, int>(StringComparer.Ordinal), double.NaN, double.NaN,
            "did not run: " + reason.Split('\n')[0]);
    }

    /// <summary>Verified per second over the window.</summary>
    public double Throughput => Verified / Seconds;

    /// <summary>
    /// Clients that ran out of seeded logins before the window closed: they stopped early, so the row's throughput and
    /// CPU read low (and its latencies come from a lighter load). 0 for a valid row.
    /// </summary>
    public int ClientsRanOut { get; init; }

    /// <summary>
    /// The window's second half verified over <see cref="LoadRun.StillWarmingRatio"/> times as many steps per second as its
    /// first, with no client out of logins: the server was still speeding up, so the row reads below its steady state.
    /// </summary>
    public bool StillWarmingUp { get; init; }

    /// <summary>All errors.</summary>
    public int ErrorCount => Errors.Values.Sum();
}
