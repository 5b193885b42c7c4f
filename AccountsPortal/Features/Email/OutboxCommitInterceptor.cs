using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AccountsPortal.Features.Email;

/// <summary>Tells <see cref="OutboxSignal"/> when a transaction ends, so emails queued in it are sent right after the commit.</summary>
internal sealed class OutboxCommitInterceptor(OutboxSignal signal) : DbTransactionInterceptor
{
    public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) =>
        signal.TransactionEnded(eventData.Context, committed: true);

    public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        signal.TransactionEnded(eventData.Context, committed: true);
        return Task.CompletedTask;
    }

    public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) =>
        signal.TransactionEnded(eventData.Context, committed: false);

    public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        signal.TransactionEnded(eventData.Context, committed: false);
        return Task.CompletedTask;
    }
}
