using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Email;

/// <summary>
/// One email waiting to be sent, being sent, sent or given up on. Written by <see cref="EmailOutbox"/> in the
/// caller's transaction and sent by <see cref="OutboxDispatcher"/>, so an email goes out exactly when the
/// change it tells about was committed.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>The longest recipient address stored (RFC 5321's 64 + 1 + 255, rounded up).</summary>
    public const int MaxToLength = 320;

    /// <summary>The longest subject stored, in characters.</summary>
    public const int MaxSubjectLength = 256;

    /// <summary>The longest error text kept from a failed attempt, in characters; longer ones are cut.</summary>
    public const int MaxLastErrorLength = 1024;

    public long Id { get; set; }

    /// <summary>The recipient's address (a mailbox, e.g. <c>kate@example.com</c>), at most <see cref="MaxToLength"/> characters.</summary>
    public required string To { get; set; }

    /// <summary>At most <see cref="MaxSubjectLength"/> characters, one line.</summary>
    public required string Subject { get; set; }

    /// <summary>The text/plain part.</summary>
    public required string TextBody { get; set; }

    /// <summary>The text/html part.</summary>
    public required string HtmlBody { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The earliest time of the next attempt; the creation time for the first.</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    /// <summary>Failed attempts so far.</summary>
    public int Attempts { get; set; }

    /// <summary>When the message was handed to the mail server or written to the pickup directory; null until then.</summary>
    public DateTimeOffset? SentAt { get; set; }

    /// <summary>When the last allowed attempt (<see cref="EmailOptions.MaxAttempts"/>) failed; the message is never tried again.</summary>
    public DateTimeOffset? FailedAt { get; set; }

    /// <summary>The type and message of the last failure, at most <see cref="MaxLastErrorLength"/> characters.</summary>
    public string? LastError { get; set; }

    /// <summary>Until when a dispatcher holds its claim on the message; null or past when nobody does.</summary>
    public DateTimeOffset? LockedUntil { get; set; }
}

internal sealed class OutboxMessageConfiguration : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> builder)
    {
        builder.ToTable("OutboxMessages");
        builder.Property(m => m.To).HasMaxLength(OutboxMessage.MaxToLength);
        builder.Property(m => m.Subject).HasMaxLength(OutboxMessage.MaxSubjectLength);
        builder.Property(m => m.LastError).HasMaxLength(OutboxMessage.MaxLastErrorLength);
        // Finding due messages: unsent, not given up, next attempt in the past.
        builder.HasIndex(m => new { m.SentAt, m.FailedAt, m.NextAttemptAt });
    }
}
