using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// <see cref="CompiledQuery{TQuery}"/>: one compiled query per model, so a process with several models (one per
/// provider; the test suite's many portals) can run the same query against each.
/// </summary>
public sealed class CompiledQueryTests
{
    private static readonly CompiledQuery<Func<PortalDbContext, string, CancellationToken, Task<string?>>> EmailOf = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string userId, CancellationToken _) =>
            db.Users.Where(u => u.Id == userId).Select(u => u.Email).SingleOrDefault()));

    [Fact]
    public async Task One_query_runs_against_contexts_of_different_models_each_reading_its_own_database()
    {
        await using var first = await TestDatabase.CreateAsync();
        await using var second = await TestDatabase.CreateAsync();
        await AddUserAsync(first, "u1", "first@example.com");
        await AddUserAsync(second, "u1", "second@example.com");

        // Without the service provider cache every context gets a model of its own, as separate portals may.
        await using var a = OwnModelContext(first);
        await using var b = OwnModelContext(second);
        Assert.NotSame(a.Model, b.Model);

        Assert.Equal("first@example.com", await EmailOf.For(a)(a, "u1", CancellationToken.None));
        Assert.Equal("second@example.com", await EmailOf.For(b)(b, "u1", CancellationToken.None));
        Assert.Equal("first@example.com", await EmailOf.For(a)(a, "u1", CancellationToken.None));
        Assert.Null(await EmailOf.For(b)(b, "nobody", CancellationToken.None));
        Assert.Same(EmailOf.For(a), EmailOf.For(a));
        Assert.NotSame(EmailOf.For(a), EmailOf.For(b));
    }

    [Fact]
    public async Task A_plain_compiled_query_refuses_a_second_model_which_is_why_each_model_gets_its_own()
    {
        var plain = EF.CompileAsyncQuery((PortalDbContext db, string userId, CancellationToken _) =>
            db.Users.Where(u => u.Id == userId).Select(u => u.Email).SingleOrDefault());
        await using var database = await TestDatabase.CreateAsync();
        await using var a = OwnModelContext(database);
        await using var b = OwnModelContext(database);

        Assert.Null(await plain(a, "u1", CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => plain(b, "u1", CancellationToken.None));
    }

    private static SqlitePortalDbContext OwnModelContext(TestDatabase database) =>
        new(new DbContextOptionsBuilder<SqlitePortalDbContext>()
            .UseSqlite(database.ConnectionString)
            .EnableServiceProviderCaching(false)
            .Options);

    private static async Task AddUserAsync(TestDatabase database, string id, string email)
    {
        await using var db = database.CreateContext();
        db.Users.Add(new PortalUser { Id = id, UserName = email, NormalizedUserName = email.ToUpperInvariant(), Email = email, SecurityStamp = "s" });
        await db.SaveChangesAsync();
    }
}
