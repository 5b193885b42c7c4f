using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// An EF Core interceptor for races made on purpose: once armed, right after the first command in a transaction whose
/// text contains every one of <paramref name="fragments"/>, it starts <see cref="Action"/> (another request, on its own
/// connection) and holds the intercepted transaction until the action ends or <paramref name="patience"/> has passed.
/// </summary>
public sealed class RunAfterCommand(TimeSpan patience, params string[] fragments) : DbCommandInterceptor
{
    private int armed;

    /// <summary>What runs in between.</summary>
    public Func<Task>? Action { get; set; }

    /// <summary>The action once started; null until the command ran.</summary>
    public Task? Running { get; private set; }

    public void Arm() => Volatile.Write(ref armed, 1);

    public override async ValueTask<DbDataReader> ReaderExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
    {
        await InterleaveAsync(command);
        return result;
    }

    public override async ValueTask<int> NonQueryExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        await InterleaveAsync(command);
        return result;
    }

    public override async ValueTask<object?> ScalarExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, object? result, CancellationToken cancellationToken = default)
    {
        await InterleaveAsync(command);
        return result;
    }

    private async Task InterleaveAsync(DbCommand command)
    {
        if (command.Transaction is not null
            && fragments.All(fragment => command.CommandText.Contains(fragment, StringComparison.Ordinal))
            && Interlocked.Exchange(ref armed, 0) == 1)
        {
            Running = Task.Run(Action!, CancellationToken.None);
            await Task.WhenAny(Running, Task.Delay(patience, CancellationToken.None));
        }
    }
}
