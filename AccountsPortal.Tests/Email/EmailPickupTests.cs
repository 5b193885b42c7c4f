using Microsoft.EntityFrameworkCore;
using AccountsPortal.Features.Email;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Email;

public sealed class EmailPickupTests
{
    private static readonly Uri ActivityUrl = new("http://localhost/account/activity");

    [Fact]
    public async Task Emails_queued_in_a_committed_transaction_are_written_as_eml_files_and_rolled_back_ones_never()
    {
        using var bench = new EmailBench();
        var template = bench.App.Services.GetRequiredService<EmailTemplate>();
        var facts = new[]
        {
            new EmailFact("When", "30 Nov 2026, 14:02 UTC"),
            new EmailFact("Browser", "<script>alert('x')</script> & Firefox"),
            new EmailFact("IP address", "203.0.113.7"),
        };
        var first = template.Create("kate@example.com", "New sign-in to your account", ["Someone signed in to your account.", "If this was you, nothing to do."], new EmailAction("Review activity", ActivityUrl), facts);
        var second = template.Create("Bob Builder <bob@example.com>", "Passkey added", ["A passkey was added."]);
        var rolledBack = template.Create("eve@example.com", "Never sent", ["This change was rolled back."]);

        await bench.EnqueueInTransactionAsync(commit: true, first, second);
        await bench.EnqueueInTransactionAsync(commit: false, rolledBack);
        var sent = await bench.SendDueAsync();

        Assert.Equal(2, sent);
        var files = bench.EmlFiles();
        Assert.Equal(2, files.Length);
        Assert.Empty(Directory.GetFiles(bench.PickupDirectory, "*.tmp"));
        foreach (var file in files)
        {
            var raw = await File.ReadAllBytesAsync(file);
            // RFC 5322: every line ends in CRLF.
            Assert.DoesNotContain(raw.Select((b, i) => (b, i)), pair => pair.b == (byte)'\n' && (pair.i == 0 || raw[pair.i - 1] != (byte)'\r'));
        }

        var messages = bench.PickedUp();
        var signIn = Assert.Single(messages, m => m.Subject == "New sign-in to your account");
        Assert.Equal("kate@example.com", Assert.Single(signIn.To.Mailboxes).Address);
        var from = Assert.Single(signIn.From.Mailboxes);
        Assert.Equal(("AccountsPortal", "no-reply@localhost"), (from.Name, from.Address));
        Assert.False(string.IsNullOrEmpty(signIn.MessageId));
        Assert.Equal(bench.App.Time.GetUtcNow().ToUnixTimeSeconds(), signIn.Date.ToUnixTimeSeconds());

        Assert.NotNull(signIn.TextBody);
        var text = signIn.TextBody.ReplaceLineEndings("\n");
        Assert.StartsWith("Hello,", text, StringComparison.Ordinal);
        Assert.Contains("Someone signed in to your account.", text, StringComparison.Ordinal);
        Assert.Contains("When: 30 Nov 2026, 14:02 UTC", text, StringComparison.Ordinal);
        Assert.Contains("Browser: <script>alert('x')</script> & Firefox", text, StringComparison.Ordinal);
        Assert.Contains("IP address: 203.0.113.7", text, StringComparison.Ordinal);
        Assert.Contains("Review activity:\nhttp://localhost/account/activity", text, StringComparison.Ordinal);
        Assert.Contains("You get this email because it concerns your AccountsPortal account.", text, StringComparison.Ordinal);

        var html = signIn.HtmlBody;
        Assert.Contains("30 Nov 2026, 14:02 UTC", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Firefox", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("203.0.113.7", html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"http://localhost/account/activity\"", html, StringComparison.Ordinal);
        Assert.Contains("You get this email because it concerns your AccountsPortal account.", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);

        var passkey = Assert.Single(messages, m => m.Subject == "Passkey added");
        Assert.Equal(("Bob Builder", "bob@example.com"), (passkey.To.Mailboxes.Single().Name, passkey.To.Mailboxes.Single().Address));
        Assert.DoesNotContain(messages, m => m.Subject == "Never sent");

        var rows = await bench.RowsAsync();
        Assert.Equal(2, rows.Count);
        Assert.All(rows, row =>
        {
            Assert.Equal(bench.App.Time.GetUtcNow(), row.SentAt!.Value, TimeSpan.FromMilliseconds(1));
            Assert.Null(row.FailedAt);
            Assert.Null(row.LockedUntil);
            Assert.Equal(0, row.Attempts);
        });

        // Nothing is sent twice.
        Assert.Equal(0, await bench.SendDueAsync());
        Assert.Equal(2, bench.EmlFiles().Length);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_sent_email_keeps_no_body_in_the_database_and_its_file_and_folder_are_the_owners_alone()
    {
        using var app = new PortalAppFactory();
        var email = PortalScenario.NewEmail();
        using (var person = new PortalScenario(app))
        {
            await person.SignUpAsync(email);
        }

        var code = await Mailbox.LatestCodeAsync(app, email);

        // The code went out (the .eml file has it); the database row no longer does.
        var rows = await app.WithDbAsync(db => db.OutboxMessages.AsNoTracking().ToListAsync());
        var sent = Assert.Single(rows);
        Assert.NotNull(sent.SentAt);
        Assert.Equal("", sent.TextBody);
        Assert.Equal("", sent.HtmlBody);
        Assert.DoesNotContain(rows, row => row.TextBody.Contains(code) || row.HtmlBody.Contains(code));
        var file = Assert.Single(Directory.GetFiles(app.MailDirectory, "*.eml"));
        Assert.Contains(code, await File.ReadAllTextAsync(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(app.MailDirectory));
    }

    [Fact]
    public async Task The_portal_name_comes_from_configuration()
    {
        using var bench = new EmailBench().WithSetting("Email:PortalName", "Example <Accounts>").WithSetting("Email:From", "Example Accounts <accounts@example.com>");
        var email = bench.App.Services.GetRequiredService<EmailTemplate>().Create("kate@example.com", "Hello", ["Just so you know."]);

        Assert.Contains("You get this email because it concerns your Example <Accounts> account.", email.TextBody, StringComparison.Ordinal);
        Assert.Contains("You get this email because it concerns your Example &lt;Accounts&gt; account.", email.HtmlBody, StringComparison.Ordinal);

        await bench.EnqueueAsync(email);
        Assert.Equal(1, await bench.SendDueAsync());
        var message = Assert.Single(bench.PickedUp());
        Assert.Equal("accounts@example.com", message.From.Mailboxes.Single().Address);
        Assert.EndsWith("@example.com", message.MessageId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Eight_dispatchers_at_once_send_each_message_exactly_once()
    {
        // Eight nodes' dispatchers, each with its own scope and database connection, released together.
        using var bench = new EmailBench().WithSetting("Database:BusyTimeoutMilliseconds", "60000");
        var emails = Enumerable.Range(1, 30).Select(i => EmailBench.Simple($"user{i}@example.com", $"Message {i}")).ToArray();
        await bench.EnqueueAsync(emails);

        var scopes = Enumerable.Range(0, 8).Select(_ => bench.App.Services.CreateAsyncScope()).ToList();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var dispatching = scopes.Select(scope => Task.Run(async () =>
        {
            var dispatcher = scope.ServiceProvider.GetRequiredService<OutboxDispatcher>();
            await gate.Task;
            return await dispatcher.SendDueAsync();
        })).ToArray();
        gate.SetResult();
        var sent = await Task.WhenAll(dispatching);
        foreach (var scope in scopes)
        {
            await scope.DisposeAsync();
        }

        Assert.Equal(30, sent.Sum());
        var messages = bench.PickedUp();
        Assert.Equal(30, messages.Count);
        Assert.Equal(emails.Select(e => e.Subject).Order(), messages.Select(m => m.Subject).Order());
        Assert.Equal(30, messages.Select(m => m.MessageId).Distinct().Count());
        Assert.All(await bench.RowsAsync(), row => Assert.NotNull(row.SentAt));
    }

    [Fact]
    public async Task Queued_emails_wake_the_worker_and_those_in_a_transaction_wake_it_again_at_commit()
    {
        using var bench = new EmailBench();
        var signal = bench.App.Services.GetRequiredService<OutboxSignal>();

        await bench.EnqueueAsync(EmailBench.Simple("kate@example.com", "Now"));
        Assert.True(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));
        Assert.False(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));

        await using var scope = bench.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AccountsPortal.Data.PortalDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<EmailOutbox>();
        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            await outbox.EnqueueAsync(EmailBench.Simple("kate@example.com", "After commit"));
            Assert.True(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));
            Assert.False(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));
            await transaction.CommitAsync();
        }

        Assert.True(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));

        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            await outbox.EnqueueAsync(EmailBench.Simple("kate@example.com", "Rolled back"));
            Assert.True(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));
            await transaction.RollbackAsync();
        }

        Assert.False(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None));
    }

    [Fact]
    public async Task The_background_worker_sends_a_message_right_after_its_transaction_commits()
    {
        using var bench = new EmailBench(workerEnabled: true);
        // The worker polls on the fake clock, which this test never moves: only its signal can wake it.
        await using var scope = bench.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AccountsPortal.Data.PortalDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<EmailOutbox>();
        await using (var transaction = await db.Database.BeginTransactionAsync())
        {
            await outbox.EnqueueAsync(EmailBench.Simple("kate@example.com", "Committed later"));
            // The early wake-up finds nothing committed yet.
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            Assert.Empty(bench.EmlFiles());
            await transaction.CommitAsync();
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (bench.EmlFiles().Length == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal("Committed later", Assert.Single(bench.PickedUp()).Subject);
    }

    [Theory]
    [InlineData("not an address", "Subject")]
    [InlineData("kate", "Subject")]
    [InlineData("kate@example.com, bob@example.com", "Subject")]
    [InlineData("kate@example.com", "")]
    [InlineData("kate@example.com", "Two\r\nBcc: eve@example.com")]
    public async Task Bad_recipients_and_subjects_are_refused_when_queued(string to, string subject)
    {
        using var bench = new EmailBench();
        await Assert.ThrowsAsync<ArgumentException>(() => bench.EnqueueAsync(EmailBench.Simple(to, subject)));
        Assert.Empty(await bench.RowsAsync());
    }

    [Fact]
    public void Pickup_file_names_sort_by_time_and_carry_the_message_id()
    {
        var earlier = PickupDirectorySender.FileName(new DateTimeOffset(2026, 11, 30, 9, 5, 1, TimeSpan.FromHours(2)), "outbox.12.1@example.com");
        var later = PickupDirectorySender.FileName(new DateTimeOffset(2026, 11, 30, 8, 5, 2, TimeSpan.Zero), "a/b\\c@example.com");

        Assert.Equal("20261130T070501.0000000Z-outbox.12.1@example.com.eml", earlier);
        Assert.Equal("20261130T080502.0000000Z-a_b_c@example.com.eml", later);
        Assert.True(string.CompareOrdinal(earlier, later) < 0);
    }
}
