using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using MimeKit;
using MimeKit.Text;

namespace AccountsPortal.Features.Email;

/// <summary>Turns a queued <see cref="OutboxMessage"/> into the MIME message that is sent.</summary>
public sealed class EmailMessageFactory(IOptions<EmailOptions> options, TimeProvider time)
{
    /// <summary>
    /// From <see cref="EmailOptions.From"/>, to the row's recipient, with its subject, a multipart/alternative body
    /// (text, then HTML; UTF-8, quoted-printable), the current time as Date and a Message-Id that is the same for
    /// every attempt of the row, so a receiver can drop a copy sent twice.
    /// </summary>
    /// <exception cref="ParseException">The row's recipient is not an email address.</exception>
    public MimeMessage Create(OutboxMessage row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var from = MailboxAddress.Parse(options.Value.From);
        var message = new MimeMessage
        {
            Subject = row.Subject,
            Date = time.GetUtcNow(),
            MessageId = string.Create(
                CultureInfo.InvariantCulture,
                $"outbox.{row.Id}.{row.CreatedAt.ToUnixTimeMilliseconds()}@{(string.IsNullOrEmpty(from.Domain) ? "localhost" : from.Domain)}"),
            Body = new MultipartAlternative { Part(TextFormat.Plain, row.TextBody), Part(TextFormat.Html, row.HtmlBody) },
        };
        message.From.Add(from);
        message.To.Add(MailboxAddress.Parse(row.To));
        return message;
    }

    private static TextPart Part(TextFormat format, string content)
    {
        var part = new TextPart(format) { ContentTransferEncoding = ContentEncoding.QuotedPrintable };
        part.SetText(Encoding.UTF8, content);
        return part;
    }
}
