namespace AccountsPortal.Data;

/// <summary>
/// The data layer's log messages, with stable event ids (3000–3099) operators can alert on. None carries user input.
/// </summary>
internal static partial class DataLog
{
    [LoggerMessage(EventId = 3001, EventName = "DatabaseReady", Level = LogLevel.Information, Message = "Database ready: {Database}")]
    public static partial void DatabaseReady(ILogger logger, string database);

    [LoggerMessage(EventId = 3002, EventName = "ExpiredRowsDeleted", Level = LogLevel.Information, Message = "Deleted {Count} expired rows")]
    public static partial void ExpiredRowsDeleted(ILogger logger, int count);

    [LoggerMessage(EventId = 3003, EventName = "ExpiredRowsCleanupFailed", Level = LogLevel.Warning, Message = "Cleaning up expired rows failed; trying again in {Interval}")]
    public static partial void ExpiredRowsCleanupFailed(ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(EventId = 3004, EventName = "KeyRingUnprotected", Level = LogLevel.Warning,
        Message = "The Data Protection key ring is stored unencrypted in the database: anyone with a copy of the file can read sign-in cookies and TOTP secrets. Set DataProtection:CertificatePath and DataProtection:Password to encrypt it with an X.509 certificate.")]
    public static partial void KeyRingUnprotected(ILogger logger);

    [LoggerMessage(EventId = 3005, EventName = "DatabaseBusy", Level = LogLevel.Warning, Message = "A request found the database busy past its timeout; it was answered 503 and nothing was written")]
    public static partial void DatabaseBusy(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3006, EventName = "DatabaseUnavailable", Level = LogLevel.Error, Message = "A request could not use the database (missing, read-only, full or damaged); it was answered 503")]
    public static partial void DatabaseUnavailable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3007, EventName = "DatabaseNotDurable", Level = LogLevel.Warning,
        Message = "The PostgreSQL server may lose acknowledged changes in a crash or power cut ({Settings}); turn these back on for production")]
    public static partial void DatabaseNotDurable(ILogger logger, string settings);

    [LoggerMessage(EventId = 3008, EventName = "UnstorableText", Level = LogLevel.Information, Message = "A request sent text the database cannot store (a NUL character); it was answered 400")]
    public static partial void UnstorableText(ILogger logger);

    /// <summary>Logs a request's database failure at the level its kind deserves.</summary>
    public static void RequestFailed(ILogger logger, DatabaseFailure failure, Exception exception)
    {
        switch (failure)
        {
            case DatabaseFailure.Busy:
                DatabaseBusy(logger, exception);
                break;
            case DatabaseFailure.Unstorable:
                UnstorableText(logger);
                break;
            default:
                DatabaseUnavailable(logger, exception);
                break;
        }
    }
}
