using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Hands each email to the mail server of <see cref="EmailOptions.Smtp"/> with MailKit: connects, authenticates
/// when a user is set, sends and says goodbye. One connection per email.
/// </summary>
public sealed class SmtpEmailSender(IOptions<EmailOptions> options) : IEmailSender
{
    /// <exception cref="InvalidOperationException">Email:Smtp:Host is not set.</exception>
    /// <exception cref="IOException">The connection failed or broke.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The server could not be reached.</exception>
    /// <exception cref="AuthenticationException">The server refused the user and password.</exception>
    /// <exception cref="SmtpCommandException">The server refused the sender, a recipient or the message.</exception>
    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var smtp = options.Value.Smtp;
        if (string.IsNullOrWhiteSpace(smtp.Host))
        {
            throw new InvalidOperationException("Email:Smtp:Host is not set.");
        }

        using var client = new SmtpClient();
        await client.ConnectAsync(smtp.Host, smtp.Port, SocketOptions(smtp.Security), cancellationToken);
        if (!string.IsNullOrEmpty(smtp.User))
        {
            await client.AuthenticateAsync(smtp.User, smtp.Password ?? "", cancellationToken);
        }

        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(quit: true, cancellationToken);
    }

    /// <summary>MailKit's name for <paramref name="security"/>.</summary>
    public static SecureSocketOptions SocketOptions(SmtpSecurity security) => security switch
    {
        SmtpSecurity.None => SecureSocketOptions.None,
        SmtpSecurity.StartTls => SecureSocketOptions.StartTls,
        SmtpSecurity.SslOnConnect => SecureSocketOptions.SslOnConnect,
        SmtpSecurity.Auto => SecureSocketOptions.Auto,
        _ => throw new ArgumentOutOfRangeException(nameof(security), security, "Unknown Email:Smtp:Security."),
    };
}
