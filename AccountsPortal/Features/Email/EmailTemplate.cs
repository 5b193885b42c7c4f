using System.Net;
using System.Text;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Email;

/// <summary>A button-like link in an email: its label (plain text) and an absolute http(s) URL, e.g. from <see cref="EmailLinks"/>.</summary>
public sealed record EmailAction(string Label, Uri Url);

/// <summary>One labelled detail shown in an email, e.g. "When" / "30 Nov 2026, 14:02 UTC" or "IP address" / "203.0.113.7". Plain text.</summary>
public sealed record EmailFact(string Label, string Value);

/// <summary>
/// The portal's one email layout: a greeting, paragraphs, optional facts and an optional link, and a footer naming
/// <see cref="EmailOptions.PortalName"/>. Builds the plain-text body and a simple HTML body (every value
/// HTML-encoded, inline styles only, no images or external resources).
/// </summary>
public sealed class EmailTemplate(IOptions<EmailOptions> options)
{
    /// <summary>Builds an email to <paramref name="to"/>; queue it with <see cref="EmailOutbox.EnqueueAsync"/>.</summary>
    /// <param name="to">The recipient's address; checked when queued.</param>
    /// <param name="subject">One line; checked when queued.</param>
    /// <param name="paragraphs">At least one paragraph of plain text; line breaks inside one are kept.</param>
    /// <param name="action">An optional link shown as a button, and written out in full in both bodies.</param>
    /// <param name="facts">Optional labelled details shown as a small table, in the given order.</param>
    /// <exception cref="ArgumentException">No paragraphs, or the action's URL is not an absolute http(s) URL.</exception>
    public OutgoingEmail Create(string to, string subject, IReadOnlyList<string> paragraphs, EmailAction? action = null, IReadOnlyList<EmailFact>? facts = null)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(subject);
        ArgumentNullException.ThrowIfNull(paragraphs);
        if (paragraphs.Count == 0)
        {
            throw new ArgumentException("An email needs at least one paragraph.", nameof(paragraphs));
        }

        if (action is not null && !(action.Url.IsAbsoluteUri && (action.Url.Scheme == Uri.UriSchemeHttps || action.Url.Scheme == Uri.UriSchemeHttp)))
        {
            throw new ArgumentException("An email's link must be an absolute http(s) URL (see EmailLinks).", nameof(action));
        }

        facts ??= [];
        var portalName = options.Value.PortalName;
        return new OutgoingEmail(to, subject, Text(portalName, paragraphs, action, facts), Html(portalName, subject, paragraphs, action, facts));
    }

    /// <summary>The footer line every email ends with.</summary>
    public static string Footer(string portalName) => $"You get this email because it concerns your {portalName} account.";

    private static string Text(string portalName, IReadOnlyList<string> paragraphs, EmailAction? action, IReadOnlyList<EmailFact> facts)
    {
        var text = new StringBuilder();
        text.Append("Hello,\n\n");
        foreach (var paragraph in paragraphs)
        {
            text.Append(Lines(paragraph)).Append("\n\n");
        }

        if (facts.Count > 0)
        {
            foreach (var fact in facts)
            {
                text.Append(Lines(fact.Label)).Append(": ").Append(Lines(fact.Value)).Append('\n');
            }

            text.Append('\n');
        }

        if (action is not null)
        {
            text.Append(Lines(action.Label)).Append(":\n").Append(action.Url.AbsoluteUri).Append("\n\n");
        }

        // "-- " on a line of its own is the signature separator mail programs recognise.
        text.Append("-- \n").Append(portalName).Append('\n').Append(Footer(portalName)).Append('\n');
        return text.ToString();
    }

    private static string Html(string portalName, string subject, IReadOnlyList<string> paragraphs, EmailAction? action, IReadOnlyList<EmailFact> facts)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(Encode(subject)).Append("</title>\n</head>\n")
            .Append("<body style=\"margin:0;padding:24px;background:#ffffff;color:#1f1f24;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;\">\n")
            .Append("<div style=\"max-width:560px;margin:0 auto;\">\n")
            .Append("<p style=\"margin:0 0 24px;font-size:18px;font-weight:600;\">").Append(Encode(portalName)).Append("</p>\n")
            .Append("<p style=\"margin:0 0 16px;\">Hello,</p>\n");
        foreach (var paragraph in paragraphs)
        {
            html.Append("<p style=\"margin:0 0 16px;\">").Append(EncodeLines(paragraph)).Append("</p>\n");
        }

        if (facts.Count > 0)
        {
            html.Append("<table role=\"presentation\" style=\"border-collapse:collapse;margin:0 0 16px;\">\n");
            foreach (var fact in facts)
            {
                html.Append("<tr><th scope=\"row\" style=\"padding:4px 16px 4px 0;text-align:left;vertical-align:top;font-weight:600;\">")
                    .Append(EncodeLines(fact.Label))
                    .Append("</th><td style=\"padding:4px 0;vertical-align:top;\">")
                    .Append(EncodeLines(fact.Value))
                    .Append("</td></tr>\n");
            }

            html.Append("</table>\n");
        }

        if (action is not null)
        {
            var url = Encode(action.Url.AbsoluteUri);
            html.Append("<p style=\"margin:24px 0;\"><a href=\"").Append(url)
                .Append("\" style=\"display:inline-block;padding:10px 18px;border-radius:4px;background:#3949ab;color:#ffffff;text-decoration:none;font-weight:600;\">")
                .Append(Encode(action.Label)).Append("</a></p>\n")
                .Append("<p style=\"margin:0 0 16px;font-size:13px;color:#555555;\">If the button does not work, copy this address into your browser:<br>")
                .Append(url).Append("</p>\n");
        }

        html.Append("<hr style=\"border:none;border-top:1px solid #dddddd;margin:24px 0 12px;\">\n")
            .Append("<p style=\"margin:0;font-size:12px;color:#666666;\">").Append(Encode(Footer(portalName))).Append("</p>\n")
            .Append("</div>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static string Lines(string value) => value.ReplaceLineEndings("\n");

    private static string Encode(string value) => WebUtility.HtmlEncode(value);

    private static string EncodeLines(string value) => Encode(Lines(value)).Replace("\n", "<br>\n", StringComparison.Ordinal);
}
