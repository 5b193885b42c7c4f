using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Apps;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>App tokens issued on SQLite.</summary>
public sealed class SqliteAppTokenIssueTests() : AppTokenIssueTests(DatabaseProvider.Sqlite);

/// <summary>App tokens issued on PostgreSQL.</summary>
public sealed class PostgresAppTokenIssueTests() : AppTokenIssueTests(DatabaseProvider.Postgres);

/// <summary>
/// <see cref="AppTokens.IssueAsync"/> writes a token only while the account's security stamp is the one the login
/// started with, in one statement (<see cref="ScalarSql"/>): a stamp that changed leaves no token row at all, nor its
/// event or device; and the statement's values travel as parameters.
/// </summary>
public abstract class AppTokenIssueTests(DatabaseProvider provider) : IDisposable
{
    private readonly PortalAppFactory app = AppApiClient.Configure(PortalAppFactory.On(provider));

    private PasskeyBench Bench => new(app);

    public void Dispose()
    {
        app.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task A_token_for_the_accounts_current_stamp_is_written_once_with_its_event_and_device()
    {
        var (userId, _) = await Bench.CreateAccountAsync();
        var stamp = await StampOfAsync(userId);

        var issued = await Bench.WithAsync(s => s.GetRequiredService<AppTokens>().IssueAsync(userId, AppApiClient.ClientId, stamp));

        Assert.NotNull(issued);
        var rows = await app.WithDbAsync(db => db.AppTokens.AsNoTracking().Where(t => t.UserId == userId).ToListAsync());
        var row = Assert.Single(rows);
        Assert.Equal(SecretTokens.Hash(issued.Token), row.TokenHash);
        Assert.Null(row.RevokedAt);
        Assert.Equal(1, await AppSignedInEventsAsync(userId));
        Assert.Equal(1, await app.WithDbAsync(db => db.KnownDevices.CountAsync(d => d.UserId == userId && d.DeviceKey == "app:" + AppApiClient.ClientId)));
    }

    [Theory]
    [InlineData("a stamp the account no longer has")]
    [InlineData(null)]
    public async Task A_stamp_that_changed_since_the_login_began_writes_nothing(string? staleStamp)
    {
        var (userId, _) = await Bench.CreateAccountAsync();
        Assert.NotEqual(staleStamp, await StampOfAsync(userId));

        var issued = await Bench.WithAsync(s => s.GetRequiredService<AppTokens>().IssueAsync(userId, AppApiClient.ClientId, staleStamp));

        Assert.Null(issued);
        Assert.Equal(0, await app.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
        Assert.Equal(0, await AppSignedInEventsAsync(userId));
        Assert.Equal(0, await app.WithDbAsync(db => db.KnownDevices.CountAsync(d => d.UserId == userId && d.DeviceKey.StartsWith("app:"))));
    }

    [Fact]
    public async Task An_account_without_a_stamp_gets_a_token_for_a_login_that_began_without_one()
    {
        var (userId, _) = await Bench.CreateAccountAsync();
        await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(set => set.SetProperty(u => u.SecurityStamp, (string?)null)));

        var issued = await Bench.WithAsync(s => s.GetRequiredService<AppTokens>().IssueAsync(userId, AppApiClient.ClientId, null));
        var refused = await Bench.WithAsync(s => s.GetRequiredService<AppTokens>().IssueAsync(userId, AppApiClient.ClientId, "a stamp it never had"));

        Assert.NotNull(issued);
        Assert.Null(refused);
        Assert.Equal(1, await app.WithDbAsync(db => db.AppTokens.CountAsync(t => t.UserId == userId)));
    }

    [Fact]
    public async Task A_scalar_statement_sends_its_values_as_parameters_and_answers_null_for_no_row_or_a_null()
    {
        const string hostile = "x'); DELETE FROM \"AspNetUsers\"; --";
        var (userId, _) = await Bench.CreateAccountAsync();

        var echoed = await app.WithDbAsync(db => db.Database.ExecuteScalarInterpolatedAsync($"SELECT {hostile}"));
        var none = await app.WithDbAsync(db => db.Database.ExecuteScalarInterpolatedAsync($"""SELECT "Id" FROM "AspNetUsers" WHERE "Id" = {hostile}"""));
        var found = await app.WithDbAsync(db => db.Database.ExecuteScalarInterpolatedAsync($"""SELECT "Id" FROM "AspNetUsers" WHERE "Id" = {userId}"""));
        var sqlNull = await app.WithDbAsync(db => db.Database.ExecuteScalarInterpolatedAsync($"SELECT NULL"));

        Assert.Equal(hostile, echoed);
        Assert.Null(none);
        Assert.Equal(userId, found);
        Assert.Null(sqlNull);
        Assert.True(await app.WithDbAsync(db => db.Users.AnyAsync(u => u.Id == userId)));
    }

    private Task<string?> StampOfAsync(string userId) =>
        app.WithDbAsync(db => db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync());

    private Task<int> AppSignedInEventsAsync(string userId) =>
        app.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.AppSignedIn));
}
