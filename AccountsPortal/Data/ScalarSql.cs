using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace AccountsPortal.Data;

/// <summary>
/// A statement whose answer is one value, sent as EF Core sends <c>ExecuteSqlInterpolatedAsync</c>'s: through its command
/// pipeline (interceptors such as <see cref="SqliteReturningGuard"/>, the command log, the context's connection and
/// current transaction), but not through LINQ. <c>Database.SqlQuery&lt;T&gt;(…).ToListAsync()</c> compiles a query over
/// the SQL on every call (an expression tree, the query cache, a shaper), which cost a verified passkey step about a
/// third of the time it held SQLite's write lock (the README's "Performance").
/// </summary>
public static class ScalarSql
{
    /// <summary>
    /// Runs <paramref name="sql"/>, each interpolated value sent as a parameter (as <c>ExecuteSqlInterpolatedAsync</c>
    /// does), and returns the first column of its first row.
    /// </summary>
    /// <returns>That value; null when the statement returned no row or a NULL.</returns>
    public static async Task<object?> ExecuteScalarInterpolatedAsync(
        this DatabaseFacade database, FormattableString sql, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(sql);
        var dependencies = (IRelationalDatabaseFacadeDependencies)((IDatabaseFacadeDependenciesAccessor)database).Dependencies;
        var context = ((IDatabaseFacadeDependenciesAccessor)database).Context;
        using var critical = dependencies.ConcurrencyDetector.EnterCriticalSection();
        var command = dependencies.RawSqlCommandBuilder.Build(sql.Format, sql.GetArguments()!, context.Model);
        var value = await command.RelationalCommand.ExecuteScalarAsync(
            new RelationalCommandParameterObject(
                dependencies.RelationalConnection, command.ParameterValues, null, context, dependencies.CommandLogger, CommandSource.ExecuteSqlRaw),
            cancellationToken);
        return value is DBNull ? null : value;
    }
}
