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
                // Never creates the file: DatabaseInitializer made it at start, and a file deleted while the portal
                // runs must fail requests (503, /healthz unhealthy) rather than become a new, empty database.
                Mode = SqliteOpenMode.ReadWrite,
                Pooling = true,
                DefaultTimeout = Math.Max(1, options.BusyTimeoutMilliseconds / 1000),
            }.ToString();
            db.UseSqlite(connectionString).AddInterceptors(new SqliteConnectionPragmas(options.BusyTimeoutMilliseconds));
        });

        builder.Services.AddSingleton<DatabaseInitializer>();
        builder.Services.AddSingleton<DatabaseHealthState>();
        builder.Services.AddSingleton<ExpiredRowsCleanup>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ExpiredRowsCleanup>());

        // Keys live in the database so that cookies and protected data survive restarts and are shared by every node;
        // with DataProtection:CertificatePath they are encrypted there (KeyRingProtection).
        var dataProtection = builder.Services.AddDataProtection()
            .SetApplicationName("AccountsPortal")
            .PersistKeysToDbContext<PortalDbContext>();
        KeyRingProtection.Configure(builder, dataProtection);

        return builder;
    }

    /// <summary>
    /// Prepares the database and checks the key ring's certificates; throws <see cref="PortalStartupException"/> with a
    /// message for the operator.
    /// </summary>
    public static Task PrepareDatabaseAsync(this WebApplication app)
    {
        app.Services.GetRequiredService<KeyRingProtection>().Check();
        return app.Services.GetRequiredService<DatabaseInitializer>().InitializeAsync(app.Lifetime.ApplicationStopping);
    }
}
