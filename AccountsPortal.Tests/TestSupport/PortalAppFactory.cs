using System.Net;
using AccountsPortal.Data;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// The real portal with its own temporary SQLite file (or PostgreSQL database) and a controllable clock. In memory by default;
/// <see cref="StartKestrel"/> puts it on a real socket at http://localhost:PORT for browsers.
/// </summary>
public class PortalAppFactory : WebApplicationFactory<Program>
{
    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("accountsportal-tests-");
    private readonly Dictionary<string, string?> settings = new();

    public const string InMemoryOrigin = "http://localhost";

    private readonly bool fakeClock;

    private readonly bool ownsDatabase;

    private bool emptyDatabase;

    private LoopbackPort? port;

    /// <summary>A portal whose clock tests move by hand (<see cref="Time"/>).</summary>
    public PortalAppFactory()
        : this(fakeClock: true)
    {
    }

    /// <summary>For fixtures of one provider (xunit wants a fixture's one public constructor to take nothing).</summary>
    protected PortalAppFactory(DatabaseProvider provider)
        : this(fakeClock: true, provider)
    {
    }

    /// <summary>A portal whose clock tests move by hand, on a database of <paramref name="provider"/>.</summary>
    public static PortalAppFactory On(DatabaseProvider provider) => new(fakeClock: true, provider);

    private PortalAppFactory(bool fakeClock, DatabaseProvider provider = DatabaseProvider.Sqlite, PortalAppFactory? sharedWith = null)
    {
        this.fakeClock = fakeClock;
        Provider = provider;
        DatabasePath = sharedWith?.DatabasePath ?? Path.Combine(directory.FullName, "portal.db");
        settings["Database:SqlitePath"] = DatabasePath;
        if (provider == DatabaseProvider.Postgres)
        {
            // A second node uses the first one's database and leaves dropping it to the first.
            PostgresConnectionString = sharedWith?.PostgresConnectionString ?? MigratedTemplates.CreatePostgresDatabaseAsync().GetAwaiter().GetResult();
            ownsDatabase = sharedWith is null;
            settings["Database:Provider"] = "Postgres";
            settings["Database:ConnectionString"] = PostgresConnectionString;
        }

        // Emails are written as .eml files next to the database, never into the repository's App_Data.
        MailDirectory = Path.Combine(directory.FullName, "mail");
        settings["Email:PickupDirectory"] = MailDirectory;
        settings["Passkeys:RelyingPartyId"] = "localhost";
        settings["Passkeys:Origins:0"] = InMemoryOrigin;
        // High enough not to get in the way of tests that sign up and log in many times from one address;
        // the rate-limit tests set their own.
        settings["RateLimits:RequestsPerMinutePerIp"] = "100000";
        settings["RateLimits:AttemptsPerMinutePerAccount"] = "100000";
    }

    /// <summary>A portal on the real clock, for browser tests: pages that poll wait on it.</summary>
    public static PortalAppFactory WithSystemClock(DatabaseProvider provider = DatabaseProvider.Sqlite) => new(fakeClock: false, provider);

    /// <summary>
    /// Another node over <paramref name="first"/>'s database (same provider, same clock kind), as a second server behind a
    /// load balancer: its own memory, services and port. Only <paramref name="first"/> drops a PostgreSQL database.
    /// </summary>
    public static PortalAppFactory NodeSharingDatabaseWith(PortalAppFactory first)
    {
        ArgumentNullException.ThrowIfNull(first);
        return new(first.fakeClock, first.Provider, first);
    }

    /// <summary>Where this portal keeps its data.</summary>
    public DatabaseProvider Provider { get; }

    /// <summary>The SQLite file (unused on PostgreSQL).</summary>
    public string DatabasePath { get; }

    /// <summary>This portal's own PostgreSQL database, dropped on dispose; null on SQLite.</summary>
    public string? PostgresConnectionString { get; }

    /// <summary>The pickup directory this portal writes its emails to (one .eml file per message).</summary>
    public string MailDirectory { get; }

    /// <summary>
    /// Starts at the real time (cookies live in real time); tests move it forward. The portal reads it only when it runs
    /// on the fake clock: read <see cref="Clock"/> for the time the portal sees.
    /// </summary>
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    /// <summary>
    /// The clock the portal runs on: <see cref="Time"/>, or the system's for <see cref="WithSystemClock"/> and the nodes
    /// beside it (whose <see cref="Time"/> stays where it started: a TOTP code from it was refused once the test ran a
    /// minute after its fixture was made).
    /// </summary>
    public TimeProvider Clock => fakeClock ? Time : TimeProvider.System;

    /// <summary>The origin WebAuthn ceremonies come from: the Kestrel address, or http://localhost in memory.</summary>
    public string Origin => ServerAddress?.ToString().TrimEnd('/') ?? InMemoryOrigin;

    /// <summary>The origin a browser uses once <see cref="StartKestrel"/> ran; localhost, since an IP is no WebAuthn RP ID.</summary>
    public Uri? ServerAddress { get; private set; }

    /// <summary>Every log entry this portal wrote, at the levels its configuration lets through.</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>
    /// Starts the portal on an empty SQLite file, which it migrates itself, in place of a copy of the migrated one
    /// (<see cref="MigratedTemplates"/>): for tests of the start. Call before the app starts.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The portal runs on PostgreSQL, whose database was created from the template with the factory (a start on an empty
    /// PostgreSQL database is <c>PostgresFailureTests</c>', on a cluster of its own).
    /// </exception>
    public PortalAppFactory WithEmptyDatabase()
    {
        if (Provider != DatabaseProvider.Sqlite)
        {
            throw new InvalidOperationException("An empty database is for SQLite portals; this one's PostgreSQL database was copied from the migrated template.");
        }

        emptyDatabase = true;
        return this;
    }

    /// <summary>Overrides a configuration value; call before the app starts.</summary>
    public PortalAppFactory WithSetting(string key, string? value)
    {
        settings[key] = value;
        return this;
    }

    /// <summary>
    /// Serves the portal on a real socket at http://localhost:PORT. The port is bound before the portal is built
    /// (its origin, and so its configuration, names the port) and handed to Kestrel as bound sockets, so no other
    /// process can take it in between (<see cref="LoopbackPort"/>).
    /// </summary>
    public PortalAppFactory StartKestrel()
    {
        ReservePort();
        var handles = port!.DuplicateHandles();
        UseKestrel(kestrel =>
        {
            foreach (var handle in handles)
            {
                kestrel.ListenHandle(handle);
            }
        });
        StartServer();
        return this;
    }

    /// <summary>
    /// Binds this portal's port (and so fixes <see cref="Origin"/>) before it starts, for settings that name it: two
    /// nodes that accept each other's passkey origins. <see cref="StartKestrel"/> then serves on it.
    /// </summary>
    public PortalAppFactory ReservePort()
    {
        if (port is null)
        {
            port = LoopbackPort.Reserve();
            ServerAddress = new Uri($"http://localhost:{port.Port}");
            settings["Passkeys:Origins:0"] = Origin;
        }

        return this;
    }

    /// <summary>A client that keeps cookies in <paramref name="cookies"/> and does not follow redirects.</summary>
    public HttpClient CreatePortalClient(CookieContainer? cookies = null)
    {
        var client = CreateDefaultClient(ServerAddress ?? new Uri("http://localhost"), new CookieContainerHandler(cookies ?? new CookieContainer()));
        return client;
    }

    public T WithScope<T>(Func<IServiceProvider, T> action)
    {
        using var scope = Services.CreateScope();
        return action(scope.ServiceProvider);
    }

    public async Task<T> WithDbAsync<T>(Func<PortalDbContext, Task<T>> query)
    {
        await using var scope = Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<PortalDbContext>());
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        // Its own file, unless a test pointed the portal elsewhere or asked for an empty one: a copy of the migrated one.
        if (Provider == DatabaseProvider.Sqlite && !emptyDatabase && settings["Database:SqlitePath"] == DatabasePath && !File.Exists(DatabasePath))
        {
            try
            {
                MigratedTemplates.CopySqliteTo(DatabasePath);
            }
            catch (IOException) when (File.Exists(DatabasePath))
            {
                // Another node over the same file copied it first.
            }
        }

        // Outside Development, static web assets (MudBlazor's files, components' JS) are only served when asked for.
        builder.UseStaticWebAssets();
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        if (fakeClock)
        {
            builder.ConfigureServices(services => services.AddSingleton<TimeProvider>(Time));
        }

        // Every entry is kept in Logs for tests to read; the console (the test run's output) shows warnings and up.
        builder.ConfigureLogging(logging => logging
            .AddProvider(Logs)
            .AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(level => level >= LogLevel.Warning));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            // After the server: Kestrel has closed its copies of the port's sockets.
            port?.Dispose();
            SqliteConnection.ClearAllPools();
            if (PostgresConnectionString is not null && ownsDatabase)
            {
                PostgresServer.DropAsync(PostgresConnectionString).GetAwaiter().GetResult();
            }

            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A file still open elsewhere; the temp folder is cleaned by the OS.
            }
        }
    }
}

/// <summary>A portal on its own PostgreSQL database, for class fixtures.</summary>
public sealed class PostgresPortalAppFactory() : PortalAppFactory(DatabaseProvider.Postgres);
