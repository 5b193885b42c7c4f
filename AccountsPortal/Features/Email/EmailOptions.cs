using MimeKit;

namespace AccountsPortal.Features.Email;

/// <summary>How the portal sends email. Bound from the "Email" configuration section and checked at start.</summary>
public sealed class EmailOptions
{
    public const string SectionName = "Email";

    /// <summary>The name people know the portal by, shown in every email's heading and footer. Not empty, one line.</summary>
    public string PortalName { get; set; } = "AccountsPortal";

    /// <summary>The sender: one mailbox with a domain, with or without a display name (<c>AccountsPortal &lt;no-reply@example.com&gt;</c>).</summary>
    public string From { get; set; } = "AccountsPortal <no-reply@localhost>";

    /// <summary>
    /// The absolute http(s) URL every link in an email starts with (e.g. <c>https://accounts.example.com</c>;
    /// a path prefix is kept, a query or fragment is refused). When null, the first of <c>Passkeys:Origins</c>.
    /// Never taken from a request's Host header.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>
    /// Where each email is written as one <c>.eml</c> file while <see cref="SmtpOptions.Host"/> is not set; relative
    /// paths are resolved against the content root. Created when missing.
    /// </summary>
    public string PickupDirectory { get; set; } = "App_Data/mail";

    /// <summary>The mail server to hand emails to; without a host, emails go to <see cref="PickupDirectory"/>.</summary>
    public SmtpOptions Smtp { get; set; } = new();

    /// <summary>Attempts per email (the first included) before it is marked failed and never tried again. At least 1.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The wait after the first failed attempt; it doubles after each further failure. Positive.</summary>
    public TimeSpan FirstRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between two attempts. At least <see cref="FirstRetryDelay"/>.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the worker looks for due emails when nothing wakes it earlier. Positive.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether this node runs the background sender. False leaves queued emails to other nodes (or to tests,
    /// which call <see cref="OutboxDispatcher.SendDueAsync"/> themselves); nothing is lost, it just waits.
    /// </summary>
    public bool WorkerEnabled { get; set; } = true;

    /// <summary>True when a mail server is configured, false when emails go to the pickup directory.</summary>
    public bool UsesSmtp => !string.IsNullOrWhiteSpace(Smtp.Host);

    /// <summary>The pickup directory as a full path, relative ones resolved against <paramref name="contentRootPath"/>.</summary>
    public string ResolvePickupDirectory(string contentRootPath) => Path.GetFullPath(PickupDirectory, contentRootPath);

    /// <summary>The wait before the attempt after <paramref name="failedAttempts"/> failures (at least 1): doubling, capped.</summary>
    public TimeSpan RetryDelay(int failedAttempts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempts, 1);
        // Doubling past the cap would overflow TimeSpan; 2^40 times any positive delay is already past it.
        var factor = Math.Pow(2, Math.Min(failedAttempts - 1, 40));
        var ticks = Math.Min(FirstRetryDelay.Ticks * factor, MaxRetryDelay.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }

    internal static bool IsSender(string? from) =>
        MailboxAddress.TryParse(ParserOptions.Default, from ?? "", out var mailbox) && !string.IsNullOrEmpty(mailbox.Domain);

    internal static bool IsPublicBaseUrl(string? url) =>
        url is null
        || (Uri.TryCreate(url, UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            && string.IsNullOrEmpty(uri.UserInfo)
            && string.IsNullOrEmpty(uri.Query)
            && string.IsNullOrEmpty(uri.Fragment));
}

/// <summary>The mail server emails are handed to. Section "Email:Smtp".</summary>
public sealed class SmtpOptions
{
    /// <summary>The server's host name or address; null (or empty) writes emails to the pickup directory instead.</summary>
    public string? Host { get; set; }

    /// <summary>The server's TCP port, 1 to 65535: 587 for submission with STARTTLS, 465 for TLS on connect, 25 between servers.</summary>
    public int Port { get; set; } = 587;

    /// <summary>How the connection is protected; see <see cref="SmtpSecurity"/>.</summary>
    public SmtpSecurity Security { get; set; } = SmtpSecurity.Auto;

    /// <summary>The user name to authenticate with; null sends without authenticating.</summary>
    public string? User { get; set; }

    /// <summary>The password for <see cref="User"/>. Keep it out of appsettings.json (environment or user secrets).</summary>
    public string? Password { get; set; }
}

/// <summary>How the connection to the mail server is protected.</summary>
public enum SmtpSecurity
{
    /// <summary>Plain text; only for a server on the same machine or network.</summary>
    None,

    /// <summary>Connect in plain text, then require STARTTLS (fails when the server does not offer it).</summary>
    StartTls,

    /// <summary>TLS from the first byte (port 465).</summary>
    SslOnConnect,

    /// <summary>TLS on connect for port 465, otherwise STARTTLS when the server offers it and plain text when it does not.</summary>
    Auto,
}
