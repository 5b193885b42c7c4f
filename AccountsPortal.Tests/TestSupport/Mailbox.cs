using AccountsPortal.Features.Email;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore;
using MimeKit;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>The portal's pickup directory read as a mailbox: every .eml file the outbox wrote, parsed with MimeKit.</summary>
public static class Mailbox
{
    /// <summary>
    /// Sends what is due (as the worker would) until nothing committed and due is left unsent — the background worker may
    /// hold a message it claimed a moment ago — then returns the messages to <paramref name="to"/>, oldest first.
    /// </summary>
    public static async Task<IReadOnlyList<MimeMessage>> MessagesToAsync(PortalAppFactory app, string to)
    {
        // A bound on the wait only (the worker writing a message it claimed, on a busy machine); no speed is asserted.
        var patience = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await using (var scope = app.Services.CreateAsyncScope())
            {
                await scope.ServiceProvider.GetRequiredService<OutboxDispatcher>().SendDueAsync();
            }

            // A message waiting for a retry is not waited for: on the test's clock its next attempt may never come. One
            // appears when a test advances the clock while the worker is writing another test's message (its send timeout
            // fires), and it would otherwise hold every later read of the mailbox for the full minute.
            // The clock the portal runs on: the test's fake one, or the real one for browser tests.
            var now = app.Services.GetRequiredService<TimeProvider>().GetUtcNow();
            var unsent = await app.WithDbAsync(db => db.OutboxMessages.CountAsync(m => m.SentAt == null && m.FailedAt == null && m.NextAttemptAt <= now));
            if (unsent == 0)
            {
                break;
            }

            if (patience.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new InvalidOperationException($"{unsent} emails stayed unsent for a minute.");
            }

            await Task.Delay(50);
        }

        if (!Directory.Exists(app.MailDirectory))
        {
            return [];
        }

        return [.. Directory.GetFiles(app.MailDirectory, "*.eml").Order(StringComparer.Ordinal)
            .Select(file => MimeMessage.Load(file))
            .Where(message => message.To.Mailboxes.Any(m => string.Equals(
                m.Address.Normalize(System.Text.NormalizationForm.FormC), to.Normalize(System.Text.NormalizationForm.FormC), StringComparison.OrdinalIgnoreCase)))];
    }

    /// <summary>The one message to <paramref name="to"/> whose subject is <paramref name="subject"/>.</summary>
    public static async Task<MimeMessage> SingleAsync(PortalAppFactory app, string to, string subject) =>
        Assert.Single(await MessagesToAsync(app, to), m => m.Subject == subject);

    /// <summary>The 6-digit code in the newest "verify" email to <paramref name="to"/>.</summary>
    public static async Task<string> LatestCodeAsync(PortalAppFactory app, string to)
    {
        var message = (await MessagesToAsync(app, to)).Last(m => m.Subject is "Verify your email address" or "Confirm your new email address");
        return System.Text.RegularExpressions.Regex.Match(message.TextBody!, @"Your code is (\d{6})\.").Groups[1].Value;
    }
}
