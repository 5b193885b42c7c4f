using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Data;

public static class DataExtensions
{
    public static WebApplicationBuilder AddPortalData(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DatabaseOptions>(builder.Configuration.GetSection(DatabaseOptions.SectionName));

        // Resolved when the first context is made, so configuration added by hosts and tests is seen.
        builder.Services.AddDbContext<PortalDbContext>((services, db) =>
        {
            var options = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            var contentRoot = services.GetRequiredService<IWebHostEnvironment>().ContentRootPath;
            var connectionString = new SqliteConnectionStringBuilder
            {
                DataSource = options.ResolveSqlitePath(contentRoot),
                Mode = SqliteOpenMode.ReadWriteCreate,
                Pooling = true,
                DefaultTimeout = Math.Max(1, options.BusyTimeoutMilliseconds / 1000),
            }.ToString();
            db.UseSqlite(connectionString).AddInterceptors(new SqliteConnectionPragmas(options.BusyTimeoutMilliseconds));
        });

        builder.Services.AddSingleton<DatabaseInitializer>();
        builder.Services.AddSingleton<ExpiredRowsCleanup>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ExpiredRowsCleanup>());

        // Keys live in the database so that cookies and protected data survive restarts and are shared by every node.
        builder.Services.AddDataProtection()
            .SetApplicationName("AccountsPortal")
            .PersistKeysToDbContext<PortalDbContext>();

        return builder;
    }

    /// <summary>Prepares the database; throws <see cref="PortalStartupException"/> with a message for the operator.</summary>
    public static Task PrepareDatabaseAsync(this WebApplication app) =>
        app.Services.GetRequiredService<DatabaseInitializer>().InitializeAsync(app.Lifetime.ApplicationStopping);
}
