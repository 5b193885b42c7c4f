using System.Diagnostics;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>
/// N clients in a closed loop for warm-up + T seconds: each takes its next seeded login and runs the passkey step
/// (<see cref="PasskeyStepClient"/>). With two nodes, client i asks node i mod 2 for the options and the other node to
/// verify, so every step crosses nodes. Steps that end inside the measured window count; the warm-up's do not.
/// </summary>
public static class LoadRun
{
    /// <summary>
    /// A window whose second half verified more than this many times as many steps per second as its first half
    /// measured a portal still warming up (JIT tiering), not its steady state (<see cref="ResultRow.StillWarmingUp"/>).
    /// </summary>
    public const double StillWarmingRatio = 1.10;

    /// <summary>Runs the clients against <paramref name="cluster"/> and summarises the measured window.</summary>
    public static Task<ResultRow> RunAsync(PortalCluster cluster, SeededLogins seeded, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return RunAsync([.. cluster.Nodes.Select(node => node.Origin)], cluster.Configuration.Name, seeded, options, cluster.ProcessorTime);
    }

    /// <summary>
    /// Runs the clients against the servers at <paramref name="nodes"/> and summarises the measured window under
    /// <paramref name="name"/>. <paramref name="serverProcessorTime"/> reads the servers' processor time so far; null
    /// when they run in this process (their CPU is then in the driver's column).
    /// </summary>
    public static async Task<ResultRow> RunAsync(
        IReadOnlyList<Uri> nodes, string name, SeededLogins seeded, LoadOptions options, Func<TimeSpan>? serverProcessorTime)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(seeded);
        ArgumentNullException.ThrowIfNull(options);
        var http = nodes.Select(PasskeyStepClient.CreateHttpClient).ToList();
        try
        {
            var queues = seeded.SplitForClients(options.Clients);
            var started = Stopwatch.GetTimestamp();
            var windowStart = started + Ticks(options.Warmup);
            var windowEnd = windowStart + Ticks(options.Duration);
            var exhausted = new long[options.Clients];

            // Processor time is read when the window opens and closes, by a timer of its own.
            var cpu = MeasureCpuAsync(serverProcessorTime, windowStart, windowEnd);
            var clients = Enumerable.Range(0, options.Clients).Select(i => Task.Run(async () =>
            {
                var step = new PasskeyStepClient(http[i % http.Count], http[(i + 1) % http.Count]);
                var samples = new List<StepSample>();
                while (Stopwatch.GetTimestamp() < windowEnd)
                {
                    if (!queues[i].TryDequeue(out var login))
                    {
                        exhausted[i] = Stopwatch.GetTimestamp();
                        break;
                    }

                    samples.Add(await step.RunAsync(login));
                }

                return samples;
            })).ToList();

            var all = (await Task.WhenAll(clients)).SelectMany(samples => samples).ToList();
            var (portalCpu, driverCpu) = await cpu;
            var inWindow = all.Where(s => s.Ended >= windowStart && s.Ended < windowEnd).ToList();
            var verified = inWindow.Where(s => s.Error is null).ToList();
            var errors = inWindow.Where(s => s.Error is not null)
                .GroupBy(s => s.Error!, StringComparer.Ordinal)
                .OrderByDescending(g => g.Count())
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            var ranOut = exhausted.Where(at => at != 0 && at < windowEnd).ToList();
            var note = $"{seeded.Logins.Count} logins over {seeded.Users.Count} accounts seeded in {seeded.Elapsed.TotalSeconds:F0} s";

            // A server still tiering its code up under load speeds up during the window: compare its two halves (not when
            // clients ran out of logins, which slows the second half down).
            var middle = windowStart + ((windowEnd - windowStart) / 2);
            var halfSeconds = options.Duration.TotalSeconds / 2;
            var (firstHalf, secondHalf) = (verified.Count(s => s.Ended < middle) / halfSeconds, verified.Count(s => s.Ended >= middle) / halfSeconds);
            var stillWarming = ranOut.Count == 0 && secondHalf > firstHalf * StillWarmingRatio;
            note += $"; verified per second in the window's first half {firstHalf:F0}, second half {secondHalf:F0}";
            if (stillWarming)
            {
                note += " (still warming up: lengthen --warmup)";
            }

            if (ranOut.Count > 0)
            {
                note += $"; {ranOut.Count} clients ran out of logins, the first after {Stopwatch.GetElapsedTime(started, ranOut.Min()).TotalSeconds:F1} s (seed more with --sessions)";
            }

            return new ResultRow(
                name,
                options.Clients,
                options.Duration.TotalSeconds,
                verified.Count,
                LatencySummary.Of(verified.Select(s => Stopwatch.GetElapsedTime(s.Started, s.Ended).TotalMilliseconds)),
                errors,
                portalCpu,
                driverCpu,
                note)
            {
                ClientsRanOut = ranOut.Count,
                StillWarmingUp = stillWarming,
            };
        }
        finally
        {
            foreach (var client in http)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Stopwatch ticks in <paramref name="span"/>.</summary>
    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>Waits until <paramref name="at"/> (a Stopwatch timestamp).</summary>
    public static async Task WaitUntilAsync(long at)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), at);
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left);
        }
    }

    /// <summary>The portals' (NaN when not read) and this process's CPU time between two timestamps, each as a share of one core.</summary>
    private static async Task<(double Portal, double Driver)> MeasureCpuAsync(Func<TimeSpan>? serverProcessorTime, long from, long to)
    {
        await WaitUntilAsync(from);
        var portalBefore = serverProcessorTime?.Invoke() ?? TimeSpan.Zero;
        var driverBefore = Environment.CpuUsage.TotalTime;
        var wallBefore = Stopwatch.GetTimestamp();
        await WaitUntilAsync(to);
        var portal = serverProcessorTime is null ? double.NaN : (serverProcessorTime() - portalBefore).TotalSeconds;
        var driver = Environment.CpuUsage.TotalTime - driverBefore;
        var wall = Stopwatch.GetElapsedTime(wallBefore).TotalSeconds;
        return (portal / wall, driver.TotalSeconds / wall);
    }
}
