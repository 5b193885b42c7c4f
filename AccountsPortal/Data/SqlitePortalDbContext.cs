using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace AccountsPortal.Data;

/// <summary>The portal's data in a SQLite file; its migrations live in <c>Data/Migrations/Sqlite</c>.</summary>
public sealed class SqlitePortalDbContext(DbContextOptions<SqlitePortalDbContext> options) : PortalDbContext(options);

/// <summary>
/// For <c>dotnet ef migrations add NAME --context SqlitePortalDbContext --output-dir Data/Migrations/Sqlite</c>:
/// a context that is never opened, so the tool needs no configuration.
/// </summary>
internal sealed class SqlitePortalDbContextDesignFactory : IDesignTimeDbContextFactory<SqlitePortalDbContext>
{
    public SqlitePortalDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlitePortalDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
