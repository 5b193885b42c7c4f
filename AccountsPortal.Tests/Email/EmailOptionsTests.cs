using AccountsPortal.Features.Email;

namespace AccountsPortal.Tests.Email;

public sealed class EmailOptionsTests
{
    [Theory]
    [InlineData("Email:From", "not an email", "Email:From must be one email address with a domain")]
    [InlineData("Email:From", "nobody", "Email:From must be one email address with a domain")]
    [InlineData("Email:PublicBaseUrl", "/portal", "Email:PublicBaseUrl must be an absolute http:// or https:// URL")]
    [InlineData("Email:PublicBaseUrl", "accounts.example.com", "Email:PublicBaseUrl must be an absolute http:// or https:// URL")]
    [InlineData("Email:PublicBaseUrl", "ftp://accounts.example.com", "Email:PublicBaseUrl must be an absolute http:// or https:// URL")]
    [InlineData("Email:Smtp:Port", "0", "Email:Smtp:Port must be between 1 and 65535")]
    [InlineData("Email:MaxAttempts", "0", "Email:MaxAttempts must be positive")]
    [InlineData("Email:FirstRetryDelay", "00:00:00", "Email:FirstRetryDelay must be positive")]
    [InlineData("Email:PollInterval", "-00:00:01", "Email:PollInterval must be positive")]
    public void The_app_does_not_start_with_bad_email_settings(string key, string value, string message)
    {
        using var bench = new EmailBench().WithSetting(key, value);

        var failure = Assert.ThrowsAny<Exception>(() => bench.App.Services);
        Assert.Contains(message, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Retry_delays_double_from_the_first_up_to_the_cap()
    {
        var options = new EmailOptions { FirstRetryDelay = TimeSpan.FromSeconds(30), MaxRetryDelay = TimeSpan.FromMinutes(5) };

        Assert.Equal(
            [30, 60, 120, 240, 300, 300],
            Enumerable.Range(1, 6).Select(attempts => options.RetryDelay(attempts).TotalSeconds));
        Assert.Equal(TimeSpan.FromMinutes(5), options.RetryDelay(int.MaxValue));
    }

    [Fact]
    public void Security_settings_map_to_mailkit()
    {
        Assert.Equal(MailKit.Security.SecureSocketOptions.None, SmtpEmailSender.SocketOptions(SmtpSecurity.None));
        Assert.Equal(MailKit.Security.SecureSocketOptions.StartTls, SmtpEmailSender.SocketOptions(SmtpSecurity.StartTls));
        Assert.Equal(MailKit.Security.SecureSocketOptions.SslOnConnect, SmtpEmailSender.SocketOptions(SmtpSecurity.SslOnConnect));
        Assert.Equal(MailKit.Security.SecureSocketOptions.Auto, SmtpEmailSender.SocketOptions(SmtpSecurity.Auto));
    }
}
