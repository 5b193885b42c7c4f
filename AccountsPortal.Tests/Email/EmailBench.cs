using AccountsPortal.Data;
using AccountsPortal.Features.Email;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace AccountsPortal.Tests.Email;

/// <summary>
/// A portal whose emails go to a pickup directory of its own and whose background worker is off, so that tests
/// send by calling <see cref="OutboxDispatcher.SendDueAsync"/> with the fake clock.
/// </summary>
public sealed class EmailBench : IDisposable
{
    private readonly DirectoryInfo mail = Directory.CreateTempSubdirectory("accountsportal-mail-");

    public EmailBench(bool workerEnabled = false)
    {
        App = new PortalAppFactory()
            .WithSetting("Email:WorkerEnabled", workerEnabled ? "true" : "false")
            .WithSetting("Email:PickupDirectory", mail.FullName);
    }

    public PortalAppFactory App { get; }

    public string PickupDirectory => mail.FullName;

    public EmailBench WithSetting(string key, string? value)
    {
        App.WithSetting(key, value);
        return this;
    }

    public static OutgoingEmail Simple(string to, string subject) => new(to, subject, $"Text of {subject}", $"<p>HTML of {subject}</p>");

    /// <summary>Queues <paramref name="emails"/> in one transaction, committed or rolled back.</summary>
    public async Task EnqueueInTransactionAsync(bool commit, params OutgoingEmail[] emails)
    {
        await using var scope = App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        var outbox = scope.ServiceProvider.GetRequiredService<EmailOutbox>();
        await using var transaction = await db.Database.BeginTransactionAsync();
        foreach (var email in emails)
        {
            await outbox.EnqueueAsync(email);
        }

        if (commit)
        {
            await transaction.CommitAsync();
        }
        else
        {
            await transaction.RollbackAsync();
        }
    }

    public async Task EnqueueAsync(params OutgoingEmail[] emails)
    {
        await using var scope = App.Services.CreateAsyncScope();
        var outbox = scope.ServiceProvider.GetRequiredService<EmailOutbox>();
        foreach (var email in emails)
        {
            await outbox.EnqueueAsync(email);
        }
    }

    /// <summary>One round of sending, as the worker would do it, from a scope of its own.</summary>
    public async Task<int> SendDueAsync()
    {
        await using var scope = App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<OutboxDispatcher>().SendDueAsync();
    }

    public Task<List<OutboxMessage>> RowsAsync() =>
        App.WithDbAsync(db => db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).ToListAsync());

    public string[] EmlFiles() =>
        Directory.Exists(PickupDirectory) ? Directory.GetFiles(PickupDirectory, "*.eml").Order(StringComparer.Ordinal).ToArray() : [];

    public List<MimeMessage> PickedUp() => EmlFiles().Select(file => MimeMessage.Load(file)).ToList();

    public void Dispose()
    {
        App.Dispose();
        try
        {
            mail.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still open elsewhere; the temp folder is cleaned by the OS.
        }
    }
}
