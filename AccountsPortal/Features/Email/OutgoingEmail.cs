namespace AccountsPortal.Features.Email;

/// <summary>An email to queue with <see cref="EmailOutbox.EnqueueAsync"/>; usually made by <see cref="EmailTemplate"/>.</summary>
/// <param name="To">One mailbox with a domain (<c>kate@example.com</c>), at most <see cref="OutboxMessage.MaxToLength"/> characters.</param>
/// <param name="Subject">One line of at most <see cref="OutboxMessage.MaxSubjectLength"/> characters.</param>
/// <param name="TextBody">The text/plain part.</param>
/// <param name="HtmlBody">The text/html part, with every value already HTML-encoded.</param>
public sealed record OutgoingEmail(string To, string Subject, string TextBody, string HtmlBody);
