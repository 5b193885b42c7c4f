using System.Diagnostics;
using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class PlatformTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_database_folder_and_file_the_portal_creates_are_its_owners_alone()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"accountsportal-perm-{Guid.NewGuid():N}", "data");
        using var app = new PortalAppFactory().WithSetting("Database:SqlitePath", Path.Combine(folder, "portal.db"));
        try
        {
            using var client = app.CreatePortalClient();
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
            foreach (var file in Directory.GetFiles(folder, "portal.db*"))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }

            Assert.Contains(Path.Combine(folder, "portal.db-wal"), Directory.GetFiles(folder));
        }
        finally
        {
            app.Dispose();
            Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    [Fact]
    public async Task Healthz_reports_the_database_reachable()
    {
        using var app = new PortalAppFactory();
        using var client = app.CreatePortalClient();

        var response = await client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/login")]
    [InlineData("/passkeys/verify?session=x")]
    [InlineData("/api/v1/me")]
    public async Task Pages_and_api_refuse_framing_and_send_no_referrer(string path)
    {
        using var app = new PortalAppFactory();
        using var client = app.CreatePortalClient();

        var response = await client.GetAsync(path);

        Assert.Equal(["DENY"], response.Headers.GetValues("X-Frame-Options"));
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        var policy = response.Headers.GetValues("Content-Security-Policy").Single().Split("; ");
        foreach (var directive in new[] { "default-src 'self'", "object-src 'none'", "connect-src 'self'", "frame-ancestors 'none'" })
        {
            Assert.Contains(directive, policy);
        }

        // Forms post to the portal; their redirects may end only at a registered OpenID Connect client (appsettings.json's example).
        var clients = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Features.Oidc.OidcOptions>>().Value.Clients;
        var targets = clients.SelectMany(c => c.RedirectUris.Concat(c.PostLogoutRedirectUris)).Select(u => new Uri(u).GetLeftPart(UriPartial.Authority)).Distinct();
        Assert.Equal(string.Join(' ', ["form-action", "'self'", .. targets]), Assert.Single(policy, d => d.StartsWith("form-action", StringComparison.Ordinal)));
        Assert.Contains("form-action 'self' http://localhost:7891", policy);

        Assert.Matches("^script-src 'self' 'nonce-[A-Za-z0-9+/]{22}==' *$", Assert.Single(policy, d => d.StartsWith("script-src", StringComparison.Ordinal)));
        Assert.DoesNotContain("unsafe-eval", string.Join(';', policy));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task The_database_is_migrated_at_start_with_wal_group_commit_and_a_busy_timeout()
    {
        using var app = new PortalAppFactory().WithEmptyDatabase();
        using var client = app.CreatePortalClient();
        await client.GetAsync("/healthz");

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.NotEmpty(await db.Database.GetAppliedMigrationsAsync());

        await db.Database.OpenConnectionAsync();
        Assert.Equal("wal", await PragmaAsync(db, "journal_mode"));
        // NORMAL, with the portal's group commit syncing the log before each commit returns (SqliteGroupSyncTests).
        Assert.Equal("1", await PragmaAsync(db, "synchronous"));
        Assert.NotNull(SqliteBusyHandler.GroupSyncOf((Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection()));
        // The busy timeout is the portal's busy handler's (SqliteBusyHandler), in place of SQLite's own.
        Assert.Equal(5000, SqliteBusyHandler.TimeoutOf((Microsoft.Data.Sqlite.SqliteConnection)db.Database.GetDbConnection()));
    }

    [Fact]
    public async Task Data_protection_keys_live_in_the_database_so_a_sign_in_survives_a_restart()
    {
        using var second = new PortalAppFactory();
        var cookies = new CookieContainer();
        using (var first = new PortalAppFactory().WithSetting("Database:SqlitePath", second.DatabasePath))
        {
            using var person = new PortalScenario(first);
            await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
            foreach (Cookie cookie in person.Cookies.GetAllCookies())
            {
                cookies.Add(cookie);
            }

            Assert.NotEmpty(await first.WithDbAsync(db => db.DataProtectionKeys.ToListAsync()));
        }

        using var client = second.CreatePortalClient(cookies);
        var response = await client.GetAsync("/account");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_portal_process_prints_one_line_and_exits_1_when_the_database_path_is_unwritable()
    {
        var appDll = typeof(Program).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", [appDll])
        {
            WorkingDirectory = Path.GetDirectoryName(appDll)!,
        };
        start.Environment["Database__SqlitePath"] = "/proc/accountsportal/portal.db";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";

        // A portal that started anyway (and would serve forever) is killed, with its children, when the test ends.
        await using var portal = ChildProcess.Start(start);
        var exitCode = await portal.WaitForExitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(1, exitCode);
        var error = await portal.StandardError;
        Assert.Contains("AccountsPortal could not start: The database path '/proc/accountsportal/portal.db' is not writable", error);
        Assert.DoesNotContain("   at ", error + await portal.StandardOutput);
    }

    internal static async Task<string?> PragmaAsync(PortalDbContext db, string name)
    {
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = $"PRAGMA {name};";
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
