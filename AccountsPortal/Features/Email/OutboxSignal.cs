using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Wakes the <see cref="OutboxWorker"/> of this node before its next poll when an email was queued. Pokes do not
/// pile up: any number of them before the worker waits again wake it once.
/// </summary>
public sealed class OutboxSignal(TimeProvider time)
{
    private static readonly object Pending = new();

    private readonly Channel<bool> pokes = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // Contexts whose open transaction holds queued emails: their commit wakes the worker again.
    private readonly ConditionalWeakTable<DbContext, object> awaitingCommit = [];

    /// <summary>Wakes the worker now, or as soon as it next waits. Never blocks.</summary>
    public void Poke() => pokes.Writer.TryWrite(true);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> (measured by the app's <see cref="TimeProvider"/>) for a poke;
    /// returns true when poked (a poke made before the call counts), false when the time passed. A zero or
    /// negative timeout only takes a poke that is already there.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (pokes.Reader.TryRead(out _))
        {
            return true;
        }

        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var elapsed = new CancellationTokenSource(timeout, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(elapsed.Token, cancellationToken);
        try
        {
            await pokes.Reader.ReadAsync(either.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    internal void PokeAfterCommit(DbContext context) => awaitingCommit.AddOrUpdate(context, Pending);

    internal void TransactionEnded(DbContext? context, bool committed)
    {
        if (context is not null && awaitingCommit.Remove(context) && committed)
        {
            Poke();
        }
    }
}
