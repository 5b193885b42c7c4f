using System.Diagnostics;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A process a test starts (the portal as <c>dotnet AccountsPortal.dll</c>, say), with its output read as it
/// comes. It never outlives the test: when it does not exit in time, and whenever the test ends (passed, failed
/// or thrown), it is killed with every process it started.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process process;

    private ChildProcess(Process process)
    {
        this.process = process;
        StandardOutput = process.StandardOutput.ReadToEndAsync();
        StandardError = process.StandardError.ReadToEndAsync();
    }

    /// <summary>Everything the process wrote to stdout, once it has exited.</summary>
    public Task<string> StandardOutput { get; }

    /// <summary>Everything the process wrote to stderr, once it has exited.</summary>
    public Task<string> StandardError { get; }

    /// <summary>Starts <paramref name="start"/> with both output streams redirected.</summary>
    public static ChildProcess Start(ProcessStartInfo start)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        return new ChildProcess(Process.Start(start) ?? throw new InvalidOperationException($"{start.FileName} did not start."));
    }

    /// <summary>Its exit code; a process still running after <paramref name="timeout"/> is killed (with its children) and the test fails.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var patience = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException) when (patience.IsCancellationRequested)
        {
            await KillAsync();
            throw new TimeoutException($"{process.StartInfo.FileName} was still running after {timeout}; it was killed with its children.");
        }

        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        process.Dispose();
    }

    private async Task KillAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }
}
