using System.Diagnostics;
using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Apps;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>An account of the load run: its software authenticator and the passkey the portal stored for it.</summary>
/// <param name="UserId">The account's id.</param>
/// <param name="Authenticator">The authenticator holding the account's one passkey; used by one client at a time.</param>
/// <param name="CredentialId">The passkey's credential id.</param>
/// <param name="PublicKey">The COSE public key the portal stored.</param>
public sealed record SeededUser(string UserId, SoftwareAuthenticator Authenticator, byte[] CredentialId, byte[] PublicKey);

/// <summary>An app login awaiting its passkey step: what <c>POST /api/v1/login</c> answers after the password check.</summary>
/// <param name="User">The account.</param>
/// <param name="SessionId">The login session id.</param>
/// <param name="Secret">The session secret the app sends as <c>X-Session-Secret</c>.</param>
public sealed record SeededLogin(SeededUser User, string SessionId, string Secret);

/// <summary>Accounts with passkeys and the app logins seeded for them, before any clock starts.</summary>
public sealed class SeededLogins : IDisposable
{
    /// <summary>Seeded accounts and logins, with how long seeding took.</summary>
    public SeededLogins(IReadOnlyList<SeededUser> users, IReadOnlyList<SeededLogin> logins, TimeSpan elapsed)
    {
        Users = users;
        Logins = logins;
        Elapsed = elapsed;
    }

    /// <summary>The accounts, in the order they were made.</summary>
    public IReadOnlyList<SeededUser> Users { get; }

    /// <summary>The logins, round-robin over <see cref="Users"/>.</summary>
    public IReadOnlyList<SeededLogin> Logins { get; }

    /// <summary>How long seeding took.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>
    /// The logins split over <paramref name="clients"/> queues so that each account belongs to exactly one client: its
    /// authenticator's signature counter then only moves forward, as one person's device does. Needs at least as
    /// many accounts as clients.
    /// </summary>
    public IReadOnlyList<Queue<SeededLogin>> SplitForClients(int clients)
    {
        var indexOf = Users.Select((user, index) => (user, index)).ToDictionary(pair => pair.user.UserId, pair => pair.index, StringComparer.Ordinal);
        var queues = Enumerable.Range(0, clients).Select(_ => new Queue<SeededLogin>()).ToList();
        foreach (var login in Logins)
        {
            queues[indexOf[login.User.UserId] % clients].Enqueue(login);
        }

        return queues;
    }

    /// <summary>Disposes the authenticators' keys.</summary>
    public void Dispose()
    {
        foreach (var user in Users)
        {
            user.Authenticator.Dispose();
        }
    }
}

/// <summary>
/// Seeds through the portal's own services (its DI container over the same database, hosted in this process by
/// <see cref="PortalAppFactory"/>): accounts made by <c>UserManager</c>, passkeys registered by the portal's
/// registration ceremony with a <see cref="SoftwareAuthenticator"/>, and app logins started by
/// <see cref="AppLogins.StartAsync"/> — what <c>POST /api/v1/login</c> does once the password is checked, so the
/// password hash (PBKDF2) is computed once per account, not once per login, and never while the clock runs.
/// </summary>
public static class LoginSeeder
{
    /// <summary>The User-Agent the seeded logins name as their requester.</summary>
    public const string UserAgent = "AccountsPortal.Benchmarks load driver";

    // Logins started per transaction: the portal's services write them; one commit per batch keeps seeding quick.
    private const int BatchSize = 500;

    /// <summary>Seeds <paramref name="users"/> accounts and <paramref name="sessions"/> logins into the cluster's database.</summary>
    public static async Task<SeededLogins> SeedAsync(PortalCluster cluster, int users, int sessions, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(log);
        var clock = Stopwatch.StartNew();
        using var app = PortalAppFactory.WithSystemClock();
        // The nodes' settings, except logging: the seeding host stays quiet, whatever the nodes are asked to log.
        foreach (var (key, value) in cluster.Settings.Where(s => !s.Key.StartsWith("Logging:", StringComparison.OrdinalIgnoreCase)))
        {
            app.WithSetting(key, value);
        }

        app.WithSetting("Logging:LogLevel:Default", "Error");

        // Builds and starts the host once, here: the factory builds it on first use and is not safe to race.
        _ = app.Services;
        var bench = new PasskeyBench(app);
        var accounts = new SeededUser[users];
        await Parallel.ForAsync(0, users, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, _) =>
        {
            var userId = await bench.CreateUserAsync();
            var authenticator = new SoftwareAuthenticator("localhost", PortalCluster.PublicOrigin);
            await bench.RegisterAsync(userId, authenticator, "Load key");
            var stored = await app.WithDbAsync(db => db.Passkeys.AsNoTracking().SingleAsync(p => p.UserId == userId));
            accounts[i] = new SeededUser(userId, authenticator, stored.CredentialId, stored.PublicKey);
        });
        await log.WriteLineAsync($"  {users} accounts with a passkey in {clock.Elapsed.TotalSeconds:F1} s");

        var logins = new List<SeededLogin>(sessions);
        var requester = new LoginRequester(IPAddress.Loopback, UserAgent);
        while (logins.Count < sessions)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
            var appLogins = scope.ServiceProvider.GetRequiredService<AppLogins>();
            var client = scope.ServiceProvider.GetRequiredService<ClientApps>().Find(AppApiClient.ClientId)
                ?? throw new InvalidOperationException($"The app {AppApiClient.ClientId} is not registered.");
            await using var transaction = await db.Database.BeginTransactionAsync();
            var batch = Math.Min(BatchSize, sessions - logins.Count);
            for (var i = 0; i < batch; i++)
            {
                var user = accounts[logins.Count % users];
                var started = await appLogins.StartAsync(user.UserId, client, null, requester);
                if (started.SecondFactor != "passkey")
                {
                    throw new InvalidOperationException($"A seeded login asks for {started.SecondFactor}, not a passkey.");
                }

                logins.Add(new SeededLogin(user, started.SessionId, started.Secret));
            }

            await transaction.CommitAsync();
        }

        await log.WriteLineAsync($"  {sessions} app logins awaiting the passkey in {clock.Elapsed.TotalSeconds:F1} s (total)");
        return new SeededLogins(accounts, logins, clock.Elapsed);
    }
}
