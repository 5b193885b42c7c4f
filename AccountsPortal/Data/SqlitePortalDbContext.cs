using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace AccountsPortal.Data;

/// <summary>The portal's data in a SQLite file; its migrations live in <c>Data/Migrations/Sqlite</c>.</summary>
public sealed class SqlitePortalDbContext : PortalDbContext
{
    /// <summary>
    /// A context for the options. <c>SaveChanges</c> always runs in a transaction, even for one statement: EF Core sends
    /// a lone statement as <c>INSERT/UPDATE/DELETE … RETURNING</c> and commits it when its reader is disposed, which
    /// SQLite does without calling its WAL hook, so under group commit (<see cref="SqliteGroupSync"/>) that commit would
    /// return before its sync. A transaction commits with <c>COMMIT</c>, which calls the hook. (Found by an outside
    /// review: a single update, delete or generated-key insert through <c>SaveChanges</c> returned unsynced.)
    /// </summary>
    public SqlitePortalDbContext(DbContextOptions<SqlitePortalDbContext> options)
        : base(options)
    {
        Database.AutoTransactionBehavior = AutoTransactionBehavior.Always;
    }
}

/// <summary>
/// For <c>dotnet ef migrations add NAME --context SqlitePortalDbContext --output-dir Data/Migrations/Sqlite</c>:
/// a context that is never opened, so the tool needs no configuration.
/// </summary>
internal sealed class SqlitePortalDbContextDesignFactory : IDesignTimeDbContextFactory<SqlitePortalDbContext>
{
    public SqlitePortalDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlitePortalDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
