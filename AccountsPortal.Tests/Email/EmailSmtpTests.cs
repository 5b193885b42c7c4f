using System.Text;
using AccountsPortal.Features.Email;
using AccountsPortal.Tests.TestSupport;
using MimeKit;
using netDumbster.smtp;

namespace AccountsPortal.Tests.Email;

public sealed class EmailSmtpTests
{
    private static EmailBench SmtpBench(int port) => new EmailBench()
        .WithSetting("Email:Smtp:Host", "127.0.0.1")
        .WithSetting("Email:Smtp:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithSetting("Email:Smtp:Security", "None")
        .WithSetting("Email:From", "Accounts <accounts@example.com>");

    [Fact]
    public async Task A_queued_email_is_delivered_to_the_mail_server()
    {
        // The port is held from the kernel's choice on; the server binds it beside the hold (SO_REUSEADDR).
        using var port = LoopbackPort.Reserve();
        using var server = SimpleSmtpServer.Start(port.Port);
        using var bench = SmtpBench(port.Port);
        await bench.EnqueueAsync(new OutgoingEmail("kate@example.com", "Your sign-in", "Plain words for Kate.", "<p>Words for <b>Kate</b>.</p>"));

        Assert.Equal(1, await bench.SendDueAsync());

        var received = Assert.Single(server.ReceivedEmail);
        Assert.Equal("kate@example.com", Assert.Single(received.ToAddresses).Address);
        Assert.Equal("accounts@example.com", received.FromAddress.Address);
        var message = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(received.Data)));
        Assert.Equal("Your sign-in", message.Subject);
        Assert.NotNull(message.TextBody);
        Assert.Equal("Plain words for Kate.", message.TextBody.TrimEnd());
        Assert.Contains("<b>Kate</b>", message.HtmlBody, StringComparison.Ordinal);
        Assert.Empty(bench.EmlFiles());
        var row = Assert.Single(await bench.RowsAsync());
        Assert.NotNull(row.SentAt);
        Assert.Equal(0, row.Attempts);
    }

    [Fact]
    public async Task A_failed_attempt_is_retried_after_the_first_retry_delay()
    {
        // Held but not listening: connections are refused, and no other process can take the port meanwhile.
        using var port = LoopbackPort.Reserve();
        using var bench = SmtpBench(port.Port).WithSetting("Email:FirstRetryDelay", "00:00:30");
        await bench.EnqueueAsync(new OutgoingEmail("kate@example.com", "Try again", "Second time lucky.", "<p>Second time lucky.</p>"));

        // Nothing listens on the port yet.
        Assert.Equal(0, await bench.SendDueAsync());
        var failed = Assert.Single(await bench.RowsAsync());
        Assert.Equal(1, failed.Attempts);
        Assert.False(string.IsNullOrEmpty(failed.LastError));
        Assert.Null(failed.SentAt);
        Assert.Null(failed.FailedAt);
        Assert.Null(failed.LockedUntil);
        Assert.Equal(bench.App.Time.GetUtcNow() + TimeSpan.FromSeconds(30), failed.NextAttemptAt, TimeSpan.FromMilliseconds(1));

        using var server = SimpleSmtpServer.Start(port.Port);
        // Not due yet.
        bench.App.Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, await bench.SendDueAsync());
        Assert.Equal(0, server.ReceivedEmailCount);

        bench.App.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await bench.SendDueAsync());

        var received = Assert.Single(server.ReceivedEmail);
        Assert.Equal("Try again", received.Subject);
        var sent = Assert.Single(await bench.RowsAsync());
        Assert.Equal(bench.App.Time.GetUtcNow(), sent.SentAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, sent.Attempts);
    }

    [Fact]
    public async Task After_max_attempts_a_message_is_marked_failed_and_never_tried_again()
    {
        using var port = LoopbackPort.Reserve();
        using var bench = SmtpBench(port.Port)
            .WithSetting("Email:MaxAttempts", "3")
            .WithSetting("Email:FirstRetryDelay", "00:00:30")
            .WithSetting("Email:MaxRetryDelay", "00:00:45");
        await bench.EnqueueAsync(new OutgoingEmail("kate@example.com", "Doomed", "No server.", "<p>No server.</p>"));

        Assert.Equal(0, await bench.SendDueAsync());
        var afterFirst = Assert.Single(await bench.RowsAsync());
        Assert.Equal(bench.App.Time.GetUtcNow() + TimeSpan.FromSeconds(30), afterFirst.NextAttemptAt, TimeSpan.FromMilliseconds(1));

        bench.App.Time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, await bench.SendDueAsync());
        var afterSecond = Assert.Single(await bench.RowsAsync());
        Assert.Equal(2, afterSecond.Attempts);
        // 60 s, capped at 45 s.
        Assert.Equal(bench.App.Time.GetUtcNow() + TimeSpan.FromSeconds(45), afterSecond.NextAttemptAt, TimeSpan.FromMilliseconds(1));

        bench.App.Time.Advance(TimeSpan.FromSeconds(45));
        Assert.Equal(0, await bench.SendDueAsync());
        var given = Assert.Single(await bench.RowsAsync());
        Assert.Equal(3, given.Attempts);
        Assert.Equal(bench.App.Time.GetUtcNow(), given.FailedAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Null(given.SentAt);
        Assert.NotNull(given.LastError);

        using var server = SimpleSmtpServer.Start(port.Port);
        bench.App.Time.Advance(TimeSpan.FromDays(2));
        Assert.Equal(0, await bench.SendDueAsync());
        Assert.Equal(0, server.ReceivedEmailCount);
        Assert.Equal(3, Assert.Single(await bench.RowsAsync()).Attempts);
    }
}
