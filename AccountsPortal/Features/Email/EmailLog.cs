using AccountsPortal.Features.Activity;

namespace AccountsPortal.Features.Email;

/// <summary>
/// The email outbox's log messages, with stable event ids (2001–2099). Errors are a mail server's or library's words:
/// they go through <see cref="LogText"/>; addresses and message bodies are never logged.
/// </summary>
internal static partial class EmailLog
{
    [LoggerMessage(EventId = 2001, EventName = "EmailGivenUp", Level = LogLevel.Warning, Message = "Email {MessageId} could not be sent after {Attempts} attempts and was given up: {Error}")]
    public static partial void GivenUp(ILogger logger, long messageId, int attempts, LogText error);

    [LoggerMessage(EventId = 2002, EventName = "EmailRetry", Level = LogLevel.Warning,
        Message = "Email {MessageId} could not be sent (attempt {Attempts} of {MaxAttempts}); trying again at {NextAttemptAt:O}: {Error}")]
    public static partial void WillRetry(ILogger logger, long messageId, int attempts, int maxAttempts, DateTimeOffset nextAttemptAt, LogText error);

    [LoggerMessage(EventId = 2003, EventName = "EmailWorkerDisabled", Level = LogLevel.Information, Message = "Email:WorkerEnabled is false: this node queues emails but does not send them")]
    public static partial void WorkerDisabled(ILogger logger);

    [LoggerMessage(EventId = 2004, EventName = "EmailSendingFailed", Level = LogLevel.Warning, Message = "Sending queued emails failed; trying again in {PollInterval}")]
    public static partial void SendingFailed(ILogger logger, Exception exception, TimeSpan pollInterval);
}
