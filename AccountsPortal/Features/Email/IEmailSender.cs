using MimeKit;

namespace AccountsPortal.Features.Email;

/// <summary>Hands one finished email on: to the mail server (<see cref="SmtpEmailSender"/>) or to the pickup directory (<see cref="PickupDirectorySender"/>).</summary>
public interface IEmailSender
{
    /// <summary>Sends <paramref name="message"/>; returns once it was accepted. Any exception means it was not
    /// (or may not have been) and the outbox tries again later.</summary>
    Task SendAsync(MimeMessage message, CancellationToken cancellationToken);
}
