using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Sends queued emails in the background: a round of <see cref="OutboxDispatcher"/> at start, then one each
/// <see cref="EmailOptions.PollInterval"/> or as soon as <see cref="OutboxSignal"/> is poked. A failed round
/// (say, a busy database) is logged and the next one tries again; the worker never stops the host. Does
/// nothing when <see cref="EmailOptions.WorkerEnabled"/> is false.
/// </summary>
public sealed class OutboxWorker(IServiceScopeFactory scopes, OutboxSignal signal, IOptions<EmailOptions> options, ILogger<OutboxWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.WorkerEnabled)
        {
            EmailLog.WorkerDisabled(logger);
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var moreDue = false;
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                moreDue = (await scope.ServiceProvider.GetRequiredService<OutboxDispatcher>().RunRoundAsync(stoppingToken)).MoreDue;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                EmailLog.SendingFailed(logger, exception, settings.PollInterval);
            }

            if (moreDue)
            {
                continue;
            }

            try
            {
                await signal.WaitAsync(settings.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
