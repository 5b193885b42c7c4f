using System.Text.Encodings.Web;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AccountsPortal.Data;

/// <summary>What kept the database from answering: a passing state, or one an operator must fix.</summary>
public enum DatabaseFailure
{
    /// <summary>
    /// Another writer held a lock past <see cref="DatabaseOptions.BusyTimeoutMilliseconds"/> (SQLite: SQLITE_BUSY,
    /// SQLITE_LOCKED; PostgreSQL: SQLSTATE 55P03 lock_not_available, 40P01 deadlock, 40001 serialization failure, 53300
    /// too many connections, or every pooled connection in use).
    /// </summary>
    Busy,

    /// <summary>
    /// The database cannot be used: SQLite's file is missing, read-only, full, unreadable or not a database
    /// (SQLITE_CANTOPEN, READONLY, FULL, IOERR, CORRUPT, NOTADB, PERM, AUTH); PostgreSQL's server cannot be reached or
    /// refuses (connection failures, SQLSTATE classes 08, 28, 3D, 53 but 53300, 57P, 58, and 25006 read-only).
    /// </summary>
    Unavailable,

    /// <summary>
    /// The request carried text the database cannot store (PostgreSQL: SQLSTATE 22021, a NUL character): the person's
    /// input, not the database, is at fault. Answered 400; nothing was written by the failed statement's transaction.
    /// </summary>
    Unstorable,
}

/// <summary>
/// Sorts database exceptions into <see cref="DatabaseFailure"/>s and gives people the words for them. Every change the
/// portal makes runs in one transaction, so either failure means nothing was written: the person may simply try again.
/// </summary>
public static class DatabaseFailures
{
    /// <summary>What a page shows when the database was busy (HTTP 503 with Retry-After: 1).</summary>
    public const string BusyMessage = "The portal is busy right now, and nothing was changed. Try again in a moment.";

    /// <summary>What a page shows when the database cannot be used; deliberately says nothing about the account.</summary>
    public const string UnavailableMessage = "The portal cannot complete this right now, and nothing was changed. Try again later.";

    /// <summary>What a page shows when what was sent cannot be stored.</summary>
    public const string UnstorableMessage = "Something you sent contains a character that cannot be stored. Remove it and try again.";

    /// <summary>What a page shows for any other failure.</summary>
    public const string OtherMessage = "Something went wrong on this page. Try again.";

    /// <summary>The failure behind <paramref name="exception"/> (or any exception inside it), or null when it is not the database's.</summary>
    public static DatabaseFailure? Classify(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is SqliteException sqlite)
            {
                // Extended result codes carry the primary code in their low byte (SQLITE_BUSY_SNAPSHOT is 517).
                return (sqlite.SqliteErrorCode & 0xFF) switch
                {
                    5 or 6 => DatabaseFailure.Busy,
                    3 or 8 or 10 or 11 or 13 or 14 or 23 or 26 => DatabaseFailure.Unavailable,
                    _ => null,
                };
            }

            if (current is PostgresException postgres)
            {
                return ClassifyPostgres(postgres.SqlState);
            }

            if (current is NpgsqlException npgsql)
            {
                // No SQLSTATE: the server could not be reached, the connection broke, or the pool stayed exhausted.
                return npgsql.InnerException is TimeoutException && npgsql.Message.Contains("pool", StringComparison.OrdinalIgnoreCase)
                    ? DatabaseFailure.Busy
                    : DatabaseFailure.Unavailable;
            }
        }

        return null;
    }

    /// <summary>
    /// Whether <paramref name="exception"/> (or one inside it) is a unique constraint that refused a row: SQLite's
    /// SQLITE_CONSTRAINT (19) or PostgreSQL's SQLSTATE 23505.
    /// </summary>
    public static bool IsUniqueViolation(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case SqliteException sqlite:
                    return sqlite.SqliteErrorCode == 19;
                case PostgresException postgres:
                    return postgres.SqlState == PostgresErrorCodes.UniqueViolation;
            }
        }

        return false;
    }

    private static DatabaseFailure? ClassifyPostgres(string sqlState) => sqlState switch
    {
        PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.QueryCanceled => DatabaseFailure.Busy,
        PostgresErrorCodes.ReadOnlySqlTransaction => DatabaseFailure.Unavailable,
        PostgresErrorCodes.CharacterNotInRepertoire or PostgresErrorCodes.UntranslatableCharacter => DatabaseFailure.Unstorable,
        _ when sqlState.StartsWith("08", StringComparison.Ordinal) // connection exception
            || sqlState.StartsWith("28", StringComparison.Ordinal) // invalid authorization
            || sqlState.StartsWith("3D", StringComparison.Ordinal) // no such database
            || sqlState.StartsWith("53", StringComparison.Ordinal) // insufficient resources: disk full, out of memory
            || sqlState.StartsWith("57P", StringComparison.Ordinal) // shutting down, cannot connect now
            || sqlState.StartsWith("58", StringComparison.Ordinal) // system error: I/O
            || sqlState.StartsWith("XX", StringComparison.Ordinal) => DatabaseFailure.Unavailable, // internal error, corruption
        _ => null,
    };

    /// <summary>The message a person sees for <paramref name="exception"/>.</summary>
    public static string MessageFor(Exception? exception) => MessageFor(Classify(exception));

    private static string MessageFor(DatabaseFailure? failure) => failure switch
    {
        DatabaseFailure.Busy => BusyMessage,
        DatabaseFailure.Unavailable => UnavailableMessage,
        DatabaseFailure.Unstorable => UnstorableMessage,
        _ => OtherMessage,
    };

    /// <summary>
    /// Answers a request whose database work failed with 503 instead of a 500: the API gets problem details with
    /// <c>code</c> <c>BUSY</c> or <c>UNAVAILABLE</c>, a page gets a short HTML page with a way back. Text the database
    /// cannot store is the request's fault: 400, <c>INVALID_REQUEST</c>. Headers set before
    /// the failure, cookies among them, are dropped: a sign-in whose transaction rolled back sets no cookie.
    /// </summary>
    public static IApplicationBuilder UseDatabaseFailurePages(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception exception) when (Classify(exception) is { } failure && !context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<DatabaseHealthState>().Record(failure);
            DataLog.RequestFailed(context.RequestServices.GetRequiredService<ILogger<DatabaseHealthState>>(), failure, exception);
            await WriteAsync(context, failure);
        }
    });

    private static async Task WriteAsync(HttpContext context, DatabaseFailure failure)
    {
        context.Response.Clear();
        var status = failure == DatabaseFailure.Unstorable ? StatusCodes.Status400BadRequest : StatusCodes.Status503ServiceUnavailable;
        context.Response.StatusCode = status;
        if (failure != DatabaseFailure.Unstorable)
        {
            context.Response.Headers.RetryAfter = failure == DatabaseFailure.Busy ? "1" : "30";
        }

        context.Response.Headers.CacheControl = "no-store";
        // Clear() dropped the security headers too; this page needs nothing but its own markup.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        context.Response.Headers.XFrameOptions = "DENY";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
        var message = MessageFor(failure);
        if (context.Request.Path.StartsWithSegments("/api"))
        {
            await Results.Problem(
                statusCode: status,
                title: message,
                extensions: new Dictionary<string, object?>
                {
                    ["code"] = failure switch
                    {
                        DatabaseFailure.Busy => "BUSY",
                        DatabaseFailure.Unstorable => Features.Apps.ApiProblems.InvalidRequest,
                        _ => "UNAVAILABLE",
                    },
                })
                .ExecuteAsync(context);
            return;
        }

        // Back to the page the person was on: a GET is simply tried again, a form is shown again to send again.
        var back = HtmlEncoder.Default.Encode(context.Request.Path.Value is { Length: > 0 } path && path.StartsWith('/') && !path.StartsWith("//", StringComparison.Ordinal) ? path : "/");
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(
            $"""
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><title>Try again — AccountsPortal</title></head>
            <body>
            <main id="main-content">
            <h1>Try again</h1>
            <p role="alert" data-testid="database-failure">{HtmlEncoder.Default.Encode(message)}</p>
            <p><a href="{back}">Back</a></p>
            </main>
            </body>
            </html>
            """);
    }
}

/// <summary>
/// The last time a request found the database unusable, for <c>/healthz</c>: a full disk only shows when something
/// tries to write. Kept per node, in memory.
/// </summary>
public sealed class DatabaseHealthState(TimeProvider time)
{
    /// <summary>How long a failed write keeps <c>/healthz</c> unhealthy after it happened.</summary>
    public static readonly TimeSpan Memory = TimeSpan.FromSeconds(30);

    private long lastUnavailableTicks;

    /// <summary>When a request last failed with <see cref="DatabaseFailure.Unavailable"/>, if within <see cref="Memory"/>.</summary>
    public DateTimeOffset? RecentFailure
    {
        get
        {
            var ticks = Interlocked.Read(ref lastUnavailableTicks);
            var at = new DateTimeOffset(ticks, TimeSpan.Zero);
            return ticks != 0 && time.GetUtcNow() - at < Memory ? at : null;
        }
    }

    /// <summary>Notes a failure; only <see cref="DatabaseFailure.Unavailable"/> counts against health.</summary>
    public void Record(DatabaseFailure failure)
    {
        if (failure == DatabaseFailure.Unavailable)
        {
            Interlocked.Exchange(ref lastUnavailableTicks, time.GetUtcNow().UtcTicks);
        }
    }
}
