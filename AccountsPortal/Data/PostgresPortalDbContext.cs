using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace AccountsPortal.Data;

/// <summary>The portal's data in a PostgreSQL database; its migrations live in <c>Data/Migrations/Postgres</c>.</summary>
public sealed class PostgresPortalDbContext(DbContextOptions<PostgresPortalDbContext> options) : PortalDbContext(options);

/// <summary>
/// For <c>dotnet ef migrations add NAME --context PostgresPortalDbContext --output-dir Data/Migrations/Postgres</c>:
/// a context that is never opened, so the tool needs no server.
/// </summary>
internal sealed class PostgresPortalDbContextDesignFactory : IDesignTimeDbContextFactory<PostgresPortalDbContext>
{
    public PostgresPortalDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresPortalDbContext>().UseNpgsql("Host=design-time").Options);
}
