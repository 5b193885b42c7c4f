using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Email;

/// <summary>
/// One round of sending: claims each due message with one conditional UPDATE (so two dispatchers, in this
/// process or on other nodes sharing the database, never both send it while a claim lasts), sends it through
/// <see cref="IEmailSender"/> in a DI scope of its own, and records the outcome. <see cref="OutboxWorker"/>
/// runs rounds in the background; tests call <see cref="SendDueAsync"/> themselves. Delivery is at least once:
/// a message whose send was interrupted (the app stopping, or the database failing before the send was recorded)
/// is tried again once its claim has run out, with the same Message-Id.
/// </summary>
public sealed class OutboxDispatcher(
    PortalDbContext db,
    IServiceScopeFactory scopes,
    EmailMessageFactory messages,
    TimeProvider time,
    IOptions<EmailOptions> options,
    ILogger<OutboxDispatcher> logger)
{
    /// <summary>How long a claim keeps other dispatchers off a message; a send is cancelled well before it ends.</summary>
    public static readonly TimeSpan ClaimDuration = TimeSpan.FromMinutes(2);

    /// <summary>The longest one send may take before it is cancelled and counted as a failed attempt.</summary>
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The most messages one round takes on; the worker starts another round at once when there were more.</summary>
    public const int MaxPerRound = 50;

    /// <summary>
    /// Sends every message that is due now (by the app's <see cref="TimeProvider"/>), unsent, not failed and not
    /// claimed by another dispatcher, up to <see cref="MaxPerRound"/>. Failures are recorded on their rows
    /// (<see cref="OutboxMessage.Attempts"/>, <see cref="OutboxMessage.LastError"/>, the next attempt or
    /// <see cref="OutboxMessage.FailedAt"/>) and logged; they do not throw.
    /// </summary>
    /// <returns>How many messages this call sent.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="System.Data.Common.DbException">The database could not be read or written.</exception>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken = default) => (await RunRoundAsync(cancellationToken)).Sent;

    internal async Task<OutboxRound> RunRoundAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var due = await Due(now)
            .OrderBy(m => m.NextAttemptAt)
            .ThenBy(m => m.Id)
            .Select(m => m.Id)
            .Take(MaxPerRound)
            .ToListAsync(cancellationToken);

        var sent = 0;
        foreach (var id in due)
        {
            var row = await TryClaimAsync(id, cancellationToken);
            if (row is not null && await SendAsync(row, cancellationToken))
            {
                sent++;
            }
        }

        return new OutboxRound(sent, MoreDue: due.Count == MaxPerRound);
    }

    private IQueryable<OutboxMessage> Due(DateTimeOffset now) =>
        db.OutboxMessages.Where(m => m.SentAt == null && m.FailedAt == null && m.NextAttemptAt <= now && (m.LockedUntil == null || m.LockedUntil <= now));

    private async Task<OutboxMessage?> TryClaimAsync(long id, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        DateTimeOffset? until = now + ClaimDuration;
        var claimed = await Due(now).Where(m => m.Id == id).ExecuteUpdateAsync(set => set.SetProperty(m => m.LockedUntil, until), cancellationToken);
        return claimed == 1 ? await db.OutboxMessages.AsNoTracking().SingleAsync(m => m.Id == id, cancellationToken) : null;
    }

    private async Task<bool> SendAsync(OutboxMessage row, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = new CancellationTokenSource(SendTimeout, time);
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var message = messages.Create(row);
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<IEmailSender>().SendAsync(message, cancel.Token);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            await RecordFailureAsync(row, exception);
            return false;
        }

        // Sent: record it even while the app is stopping, or the message would go out again. Its bodies go with the
        // same UPDATE: they may carry a code or a password-reset link, which must not outlive the sending in a copy of
        // the database.
        var sentAt = time.GetUtcNow();
        await db.OutboxMessages
            .Where(m => m.Id == row.Id)
            .ExecuteUpdateAsync(
                set => set.SetProperty(m => m.SentAt, sentAt).SetProperty(m => m.LockedUntil, (DateTimeOffset?)null)
                    .SetProperty(m => m.TextBody, "").SetProperty(m => m.HtmlBody, ""),
                CancellationToken.None);
        return true;
    }

    private async Task RecordFailureAsync(OutboxMessage row, Exception exception)
    {
        var settings = options.Value;
        var attempts = row.Attempts + 1;
        var now = time.GetUtcNow();
        var error = Data.StoredText.Truncate($"{exception.GetType().Name}: {exception.Message}", OutboxMessage.MaxLastErrorLength)!;

        if (attempts >= settings.MaxAttempts)
        {
            await db.OutboxMessages
                .Where(m => m.Id == row.Id && m.SentAt == null)
                .ExecuteUpdateAsync(
                    set => set.SetProperty(m => m.Attempts, attempts)
                        .SetProperty(m => m.LastError, error)
                        .SetProperty(m => m.FailedAt, now)
                        .SetProperty(m => m.LockedUntil, (DateTimeOffset?)null)
                        .SetProperty(m => m.TextBody, "")
                        .SetProperty(m => m.HtmlBody, ""),
                    CancellationToken.None);
            EmailLog.GivenUp(logger, row.Id, attempts, error);
            return;
        }

        var nextAttemptAt = now + settings.RetryDelay(attempts);
        await db.OutboxMessages
            .Where(m => m.Id == row.Id && m.SentAt == null)
            .ExecuteUpdateAsync(
                set => set.SetProperty(m => m.Attempts, attempts)
                    .SetProperty(m => m.LastError, error)
                    .SetProperty(m => m.NextAttemptAt, nextAttemptAt)
                    .SetProperty(m => m.LockedUntil, (DateTimeOffset?)null),
                CancellationToken.None);
        EmailLog.WillRetry(logger, row.Id, attempts, settings.MaxAttempts, nextAttemptAt, error);
    }
}

/// <summary>What one round did: how many messages it sent, and whether it stopped at <see cref="OutboxDispatcher.MaxPerRound"/>.</summary>
internal readonly record struct OutboxRound(int Sent, bool MoreDue);
