using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// PostgreSQL missing, down, locked or read-only: the portal refuses to start with one line that says what to fix, and
/// once running answers a clear 503 (never a 500), writes nothing partial, tells /healthz, and recovers by itself.
/// </summary>
public sealed class PostgresFailureTests
{
    [Fact]
    public async Task A_node_set_to_postgres_without_a_connection_string_refuses_to_start_and_says_what_to_set()
    {
        await using var portal = new PortalProcess().With("Database:Provider", "Postgres");

        var exitCode = await portal.RunToExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exitCode);
        var line = Assert.Single(portal.StandardError, l => l.Length > 0);
        Assert.StartsWith("AccountsPortal could not start:", line);
        Assert.Contains("Database:ConnectionString", line);
        Assert.Contains("ConnectionStrings:Portal", line);
    }

    [Theory]
    [InlineData("Database:Provider", "Postgress", "Database:Provider")]
    [InlineData("Database:ConnectionString", "Host=127.0.0.1;Database=portal;Username=portal;Password=Hunter;2SECRET=part", "cannot be read as an Npgsql connection string")]
    [InlineData("Database:ConnectionString", "garbage;Password=HUNTER2pw", "cannot be read as an Npgsql connection string")]
    public async Task A_setting_that_cannot_be_read_stops_the_start_with_one_line_that_quotes_no_password(string key, string value, string expected)
    {
        await using var portal = new PortalProcess().With("Database:Provider", "Postgres").With(key, value);

        var exitCode = await portal.RunToExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exitCode);
        var line = Assert.Single(portal.StandardError, l => l.Length > 0);
        Assert.StartsWith("AccountsPortal could not start:", line);
        Assert.Contains(expected, line);
        var everything = string.Join('\n', portal.StandardOutput.Concat(portal.StandardError));
        Assert.DoesNotContain("2secret", everything, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter", everything, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(portal.StandardOutput.Concat(portal.StandardError), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_whose_server_cannot_be_reached_refuses_to_start_and_names_it_but_never_its_password()
    {
        // A port nothing listens on: the connection is refused.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var portal = new PortalProcess()
            .With("Database:Provider", "Postgres")
            .With("Database:ConnectionString", $"Host=127.0.0.1;Port={port};Database=portal;Username=portal;Password=hunter2-secret;Timeout=5");

        var exitCode = await portal.RunToExitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(1, exitCode);
        var line = Assert.Single(portal.StandardError, l => l.Length > 0);
        Assert.StartsWith("AccountsPortal could not start:", line);
        Assert.Contains($"'portal' on 127.0.0.1:{port}", line);
        Assert.DoesNotContain(portal.StandardOutput.Concat(portal.StandardError), l => l.Contains("hunter2-secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_server_that_goes_down_fails_logins_closed_with_503_and_healthz_tells_until_it_is_back()
    {
        using var cluster = PostgresCluster.Start();
        using var app = AppApiClient.Configure(PortalAppFactory.On(DatabaseProvider.Postgres))
            .WithSetting("Database:ConnectionString", await PostgresServer.CreateDatabaseAsync(cluster.ConnectionString))
            .StartKestrel();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);

        cluster.Stop();
        var api = await client.LogInAsync(email);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, api.StatusCode);
        Assert.Equal("UNAVAILABLE", await AppApiClient.ProblemCodeAsync(api));
        Assert.Equal("30", api.Headers.GetValues("Retry-After").Single());
        var health = await client.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());

        cluster.Resume();
        // Connections the pool kept from before the outage break on first use: each such request is a 503 too, never a
        // 500, and the pool replaces them.
        HttpResponseMessage again;
        var attempts = 0;
        do
        {
            again = await client.LogInAsync(email);
            Assert.Contains(again.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable });
        }
        while (again.StatusCode != HttpStatusCode.OK && ++attempts < 200);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        // Healthy again once the failure is older than the health check remembers.
        app.Time.Advance(DatabaseHealthState.Memory + TimeSpan.FromSeconds(1));
        Assert.Equal("Healthy", await (await client.Http.GetAsync("/healthz")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_row_lock_held_past_the_busy_timeout_gets_503_BUSY_and_writes_nothing()
    {
        using var app = AppApiClient.Configure(PortalAppFactory.On(DatabaseProvider.Postgres))
            .WithSetting("Database:BusyTimeoutMilliseconds", "1000");
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        // The first login makes the account's password attempt counter, which every login then reserves an attempt on.
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);
        var sessionsBefore = await app.WithDbAsync(db => db.LoginSessions.CountAsync());

        HttpResponseMessage response;
        await using (var other = new NpgsqlConnection(app.PostgresConnectionString))
        {
            // Another node in the middle of a long transaction on that counter.
            await other.OpenAsync();
            await using var transaction = await other.BeginTransactionAsync();
            await using var hold = new NpgsqlCommand("""SELECT 1 FROM "AttemptCounters" WHERE "Key" LIKE 'password:%' FOR UPDATE""", other, transaction);
            Assert.NotNull(await hold.ExecuteScalarAsync());
            response = await client.LogInAsync(email);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("BUSY", await AppApiClient.ProblemCodeAsync(response));
        Assert.Equal(sessionsBefore, await app.WithDbAsync(db => db.LoginSessions.CountAsync()));
        Assert.Equal(HttpStatusCode.OK, (await client.LogInAsync(email)).StatusCode);
    }

    [Fact]
    public async Task A_read_only_database_fails_logins_closed_and_healthz_turns_unhealthy()
    {
        using var app = AppApiClient.Configure(PortalAppFactory.On(DatabaseProvider.Postgres)).StartKestrel();
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        using var client = new AppApiClient(app.CreatePortalClient());
        var name = new NpgsqlConnectionStringBuilder(app.PostgresConnectionString).Database;
        var sessionsBefore = await app.WithDbAsync(db => db.LoginSessions.CountAsync());

        // As an operator turning a database read-only for maintenance (or a failover onto a standby): new sessions
        // are read-only; those the pool kept are ended.
        await using (var admin = new NpgsqlConnection(PostgresServer.ConnectionString))
        {
            await admin.OpenAsync();
            await using var command = new NpgsqlCommand(
                $"""ALTER DATABASE "{name}" SET default_transaction_read_only = on; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'""", admin);
            await command.ExecuteNonQueryAsync();
        }

        HttpResponseMessage api;
        var attempts = 0;
        do
        {
            // The first request may meet a connection the server just ended: 503 as well.
            api = await client.LogInAsync(email);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, api.StatusCode);
        }
        while (await AppApiClient.ProblemCodeAsync(api) != "UNAVAILABLE" && ++attempts < 50);

        Assert.Equal("UNAVAILABLE", await AppApiClient.ProblemCodeAsync(api));
        var health = await client.Http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());
        Assert.Equal(sessionsBefore, await app.WithDbAsync(db => db.LoginSessions.CountAsync()));
    }

    [Fact]
    public async Task Text_postgres_cannot_store_is_refused_with_400_not_500_on_every_way_in()
    {
        using var app = AppApiClient.Configure(PortalAppFactory.On(DatabaseProvider.Postgres));
        var (_, email) = await new PasskeyBench(app).CreateAccountAsync();
        var withNul = "kate\u0000" + email;
        using var client = new AppApiClient(app.CreatePortalClient());

        var api = await client.LogInAsync(withNul);
        Assert.Equal(HttpStatusCode.BadRequest, api.StatusCode);
        Assert.Equal("INVALID_REQUEST", await AppApiClient.ProblemCodeAsync(api));

        using var person = new PortalScenario(app);
        var form = await person.Http.SubmitAsync("/login", "login", new Dictionary<string, string>
        {
            ["Input.Email"] = withNul,
            ["Input.Password"] = PortalScenario.StrongPassword,
        });
        // The form is refused too (400), and no login starts.
        Assert.Equal(HttpStatusCode.BadRequest, form.StatusCode);
        Assert.Null(person.PendingLoginSecret);

        var signUp = await person.SignUpAsync(withNul);
        Assert.True((int)signUp.StatusCode < 500, $"{(int)signUp.StatusCode}");
        Assert.Equal(1, await app.WithDbAsync(db => db.Users.CountAsync()));
        Assert.Equal(0, await app.WithDbAsync(db => db.LoginSessions.CountAsync()));
    }
}
