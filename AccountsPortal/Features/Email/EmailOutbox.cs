using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using MimeKit;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Queues emails in the database. A message is saved through the request's own <see cref="PortalDbContext"/>:
/// inside a transaction the caller opened with <c>db.Database.BeginTransactionAsync</c>, it is committed
/// with the caller's change or rolled back with it, so no email tells of a change that did not happen.
/// </summary>
public sealed class EmailOutbox(PortalDbContext db, TimeProvider time, OutboxSignal signal)
{
    /// <summary>
    /// Saves <paramref name="message"/> for sending (one <c>SaveChangesAsync</c>; other pending changes of the
    /// context are saved with it) and wakes the worker, at once and again once the caller's transaction commits.
    /// </summary>
    /// <exception cref="ArgumentException">The recipient is not one mailbox with a domain or is longer than
    /// <see cref="OutboxMessage.MaxToLength"/>, or the subject is empty, longer than
    /// <see cref="OutboxMessage.MaxSubjectLength"/> or holds a line break or other control character.</exception>
    public async Task EnqueueAsync(OutgoingEmail message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        Validate(message);
        var now = time.GetUtcNow();
        var row = new OutboxMessage
        {
            To = message.To,
            Subject = message.Subject,
            TextBody = message.TextBody,
            HtmlBody = message.HtmlBody,
            CreatedAt = now,
            NextAttemptAt = now,
        };
        db.OutboxMessages.Add(row);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        finally
        {
            db.Entry(row).State = EntityState.Detached;
        }

        if (db.Database.CurrentTransaction is not null)
        {
            signal.PokeAfterCommit(db);
        }

        signal.Poke();
    }

    private static void Validate(OutgoingEmail message)
    {
        if (string.IsNullOrEmpty(message.To)
            || message.To.Length > OutboxMessage.MaxToLength
            || !MailboxAddress.TryParse(ParserOptions.Default, message.To, out var mailbox)
            || string.IsNullOrEmpty(mailbox.Domain))
        {
            throw new ArgumentException($"The recipient must be one email address with a domain, at most {OutboxMessage.MaxToLength} characters.", nameof(message));
        }

        if (string.IsNullOrWhiteSpace(message.Subject) || message.Subject.Length > OutboxMessage.MaxSubjectLength || message.Subject.Any(char.IsControl))
        {
            throw new ArgumentException($"The subject must be one line of 1 to {OutboxMessage.MaxSubjectLength} characters.", nameof(message));
        }

        ArgumentNullException.ThrowIfNull(message.TextBody, nameof(message));
        ArgumentNullException.ThrowIfNull(message.HtmlBody, nameof(message));
    }
}
