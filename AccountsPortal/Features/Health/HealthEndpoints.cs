using System.Globalization;
using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AccountsPortal.Features.Health;

public static class HealthEndpoints
{
    public const string Path = "/healthz";

    public static WebApplicationBuilder AddHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
        return builder;
    }

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks(Path);
        return endpoints;
    }
}

/// <summary>
/// Healthy when the database answers a query and would take a write, checked without changing anything: on SQLite
/// the check takes the write lock, writes the file's header value it already has (<c>PRAGMA user_version</c>) and
/// rolls back, so a read-only file is caught; on PostgreSQL it asks for a transaction id (<c>txid_current()</c>),
/// which a standby refuses, and for <c>transaction_read_only</c>, which a database or role set read-only turns on. Unhealthy too while a request failed to use the database in the last
/// <see cref="DatabaseHealthState.Memory"/> (a full disk only shows when pages are written). Busy past the timeout
/// is Degraded: the file is fine, another writer holds it.
/// </summary>
internal sealed class DatabaseHealthCheck(PortalDbContext db, DatabaseHealthState state) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = transaction.GetDbTransaction();
            if (db is PostgresPortalDbContext)
            {
                // A standby refuses the transaction id; a database or role set read-only says so in the setting.
                command.CommandText = "SELECT current_setting('transaction_read_only') || ' ' || txid_current()::text";
                var answer = Convert.ToString(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
                if (answer?.StartsWith("on ", StringComparison.Ordinal) == true)
                {
                    await transaction.RollbackAsync(cancellationToken);
                    return HealthCheckResult.Unhealthy("The database is read-only.");
                }
            }
            else
            {
                command.CommandText = "PRAGMA user_version";
                var version = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
                command.CommandText = string.Concat("PRAGMA user_version = ", version.ToString(CultureInfo.InvariantCulture));
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.RollbackAsync(cancellationToken);
        }
        catch (Exception exception) when (DatabaseFailures.Classify(exception) is { } failure)
        {
            return failure == DatabaseFailure.Busy
                ? HealthCheckResult.Degraded("The database is busy.", exception)
                : HealthCheckResult.Unhealthy("The database cannot be used.", exception);
        }

        return state.RecentFailure is { } at
            ? HealthCheckResult.Unhealthy($"A request could not use the database at {at:O}.")
            : HealthCheckResult.Healthy("The database answers and takes writes.");
    }
}
