using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AccountsPortal.Data;

public static class DataExtensions
{
    public static WebApplicationBuilder AddPortalData(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<DatabaseOptions>(builder.Configuration.GetSection(DatabaseOptions.SectionName));

        builder.Services.PostConfigure<DatabaseOptions>(options =>
            options.ConnectionString ??= builder.Configuration.GetConnectionString(DatabaseOptions.ConnectionStringName));

        // Both contexts are registered; PortalDbContext is whichever the configured provider names. Options are read
        // when the first context is made, so configuration added by hosts and tests is seen.
        // Pooled: a request leases a context that is reset after it, instead of building one; the options are built once.
        // Features add interceptors as IInterceptor services.
        builder.Services.AddDbContextPool<SqlitePortalDbContext>((services, db) =>
        {
            var options = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            var contentRoot = services.GetRequiredService<IWebHostEnvironment>().ContentRootPath;
            db.UseSqlite(SqliteConnectionString(options, contentRoot))
                .AddInterceptors(new SqliteConnectionPragmas(options.BusyTimeoutMilliseconds, options.SqliteCommitSync), new SqliteReturningGuard())
                .AddInterceptors(services.GetServices<IInterceptor>());
        });
        builder.Services.AddDbContextPool<PostgresPortalDbContext>((services, db) =>
            db.UseNpgsql(PostgresConnectionString(services.GetRequiredService<IOptions<DatabaseOptions>>().Value))
                .AddInterceptors(services.GetServices<IInterceptor>()));
        builder.Services.AddScoped<PortalDbContext>(services =>
            services.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider == DatabaseProvider.Postgres
                ? services.GetRequiredService<PostgresPortalDbContext>()
                : services.GetRequiredService<SqlitePortalDbContext>());

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
    /// The SQLite connection string for the runtime. Never creates the file: <see cref="DatabaseInitializer"/> made it
    /// at start, and a file deleted while the portal runs must fail requests (503, /healthz unhealthy) rather than
    /// become a new, empty database.
    /// </summary>
    public static string SqliteConnectionString(DatabaseOptions options, string contentRoot) => new SqliteConnectionStringBuilder
    {
        DataSource = options.ResolveSqlitePath(contentRoot),
        Mode = SqliteOpenMode.ReadWrite,
        Pooling = true,
        DefaultTimeout = Math.Max(1, options.BusyTimeoutMilliseconds / 1000),
    }.ToString();

    /// <summary>How many statements a PostgreSQL connection keeps prepared unless the connection string says otherwise.</summary>
    public const int DefaultMaxAutoPrepare = 64;

    /// <summary>
    /// The operator's Npgsql connection string with <c>lock_timeout</c> set to
    /// <see cref="DatabaseOptions.BusyTimeoutMilliseconds"/> unless its <c>Options</c> already set one, so a statement
    /// stuck behind another node's row lock fails as busy (503) as SQLite's busy timeout does; and with
    /// <c>Max Auto Prepare</c> <see cref="DefaultMaxAutoPrepare"/> unless it names its own (0 turns preparing off, as a
    /// pooler in transaction mode without prepared-statement support needs).
    /// </summary>
    /// <exception cref="PortalStartupException">No connection string is configured, or it cannot be read.</exception>
    public static string PostgresConnectionString(DatabaseOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new PortalStartupException(
                "Database:Provider is Postgres but no connection string is set. Set Database:ConnectionString (or " +
                "ConnectionStrings:Portal, or the environment variable Database__ConnectionString), e.g. " +
                "\"Host=127.0.0.1;Port=5432;Database=portal;Username=portal;Password=...\".");
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        }
        catch (ArgumentException exception)
        {
            // Npgsql's message may quote a piece of the string, which may be part of a password: it is not repeated.
            throw new PortalStartupException(
                "Database:ConnectionString cannot be read as an Npgsql connection string (key=value pairs separated by ';'; " +
                "quote a value that contains ';' or '=').", exception);
        }

        // EF Core sends the same few parameterised statements again and again: prepared once per connection, PostgreSQL
        // stops parsing and planning them each time (measured: 119 → 203 passkey steps/s, see README "Performance").
        // (The Npgsql builder knows every keyword whether set or not: ask the string as written.)
        var written = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = options.ConnectionString };
        if (!written.ContainsKey("Max Auto Prepare") && !written.ContainsKey("MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = DefaultMaxAutoPrepare;
        }

        if (builder.Options?.Contains("lock_timeout", StringComparison.Ordinal) != true)
        {
            builder.Options = string.Join(' ', new[] { builder.Options, $"-c lock_timeout={options.BusyTimeoutMilliseconds}" }.Where(o => !string.IsNullOrEmpty(o)));
        }

        return builder.ConnectionString;
    }

    /// <summary>
    /// Prepares the database and checks the key ring's certificates; throws <see cref="PortalStartupException"/> with a
    /// message for the operator.
    /// </summary>
    public static Task PrepareDatabaseAsync(this WebApplication app)
    {
        try
        {
            _ = app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        }
        catch (InvalidOperationException exception)
        {
            // A value that does not convert, e.g. Database:Provider=Postgress: the message names the key and the value.
            throw new PortalStartupException(
                $"The Database settings cannot be read ({exception.Message} Database:Provider is Sqlite or Postgres).", exception);
        }

        app.Services.GetRequiredService<KeyRingProtection>().Check();
        return app.Services.GetRequiredService<DatabaseInitializer>().InitializeAsync(app.Lifetime.ApplicationStopping);
    }
}
