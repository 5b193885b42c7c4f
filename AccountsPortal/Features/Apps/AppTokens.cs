using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>Issues, checks and revokes the bearer tokens apps use for the API.</summary>
public sealed class AppTokens(
    PortalDbContext db,
    ClientApps clients,
    TimeProvider time,
    IOptions<AppsOptions> options,
    Activity.SecurityEvents events,
    Notifications.KnownDevices devices,
    ILogger<AppTokens> logger)
{
    // Last-seen times are written at most this often, so that API calls do not each cost a write.
    private static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Issues a token, unless the account's security stamp is no longer <paramref name="securityStamp"/>
    /// (its factors changed since the password step): then null. One statement writes the token only if the
    /// stamp still matches, holding the account's row until the transaction ends (SQLite's write lock; on
    /// PostgreSQL <c>FOR SHARE</c>, re-checked on the newest row once a rotation it waited for commits), so a
    /// rotation at any moment either waits and then revokes it, or is seen here. The token, its
    /// event and the device it was issued to commit together: in the caller's transaction, or in one of
    /// their own (a password-only app login has none), so that a failure part-way can never leave a
    /// device remembered whose owner was not told, nor a token nobody was handed.
    /// </summary>
    public async Task<IssuedToken?> IssueAsync(string userId, string clientId, string? securityStamp, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userId);
        ArgumentNullException.ThrowIfNull(clientId);
        await using var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(cancellationToken) : null;
        var issued = await IssueCoreAsync(userId, clientId, securityStamp, cancellationToken);
        if (own is not null)
        {
            await own.CommitAsync(cancellationToken);
        }

        return issued;
    }

    private async Task<IssuedToken?> IssueCoreAsync(string userId, string clientId, string? securityStamp, CancellationToken cancellationToken)
    {
        var token = SecretTokens.New();
        var now = time.GetUtcNow();
        var expiresAt = now + options.Value.TokenLifetime;
        var (at, until) = (PortalDbContext.StoredInstant(now), PortalDbContext.StoredInstant(expiresAt));
        // Raw SQL, one statement: tokens are issued inside the write transaction of a verified second factor, where every
        // statement is time the write lock is held. Not composed, so sent as is.
        var hash = SecretTokens.Hash(token);
        // The stamp compared null-safely (null matches only null): SQLite's IS, PostgreSQL's IS NOT DISTINCT FROM.
        var insert = db is PostgresPortalDbContext
            ? (FormattableString)$"""
                INSERT INTO "AppTokens" ("UserId", "ClientId", "TokenHash", "CreatedAt", "ExpiresAt", "LastSeenAt")
                SELECT {userId}, {clientId}, {hash}, {at}, {until}, {at}
                WHERE EXISTS (SELECT 1 FROM "AspNetUsers" WHERE "Id" = {userId} AND "SecurityStamp" IS NOT DISTINCT FROM {securityStamp} FOR SHARE)
                RETURNING "Id"
                """
            : $"""
                INSERT INTO "AppTokens" ("UserId", "ClientId", "TokenHash", "CreatedAt", "ExpiresAt", "LastSeenAt")
                SELECT {userId}, {clientId}, {hash}, {at}, {until}, {at}
                WHERE EXISTS (SELECT 1 FROM "AspNetUsers" WHERE "Id" = {userId} AND "SecurityStamp" IS {securityStamp})
                RETURNING "Id"
                """;
        if (await db.Database.ExecuteScalarInterpolatedAsync(insert, cancellationToken) is not { } inserted)
        {
            Activity.SecurityLog.AppTokenWithdrawn(logger, userId);
            return null;
        }

        var id = Convert.ToInt64(inserted, System.Globalization.CultureInfo.InvariantCulture);
        var appName = clients.Find(clientId)?.Name ?? clientId;
        await events.RecordAsync(userId, Activity.SecurityEventKind.AppSignedIn, appName, cancellationToken);
        await devices.AppSignedInAsync(userId, clientId, appName, cancellationToken);
        Activity.SecurityLog.AppTokenIssued(logger, id, clientId, userId);
        return new IssuedToken(token, expiresAt);
    }

    /// <summary>The live token with this value, if any; records that it was seen.</summary>
    public async Task<AppToken?> FindLiveAsync(string? token, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 128)
        {
            return null;
        }

        var hash = SecretTokens.Hash(token);
        var now = time.GetUtcNow();
        var found = await db.AppTokens.AsNoTracking()
            .SingleOrDefaultAsync(t => t.TokenHash == hash && t.RevokedAt == null && t.ExpiresAt > now, cancellationToken);
        if (found is not null && now - found.LastSeenAt > LastSeenResolution)
        {
            await db.AppTokens.Where(t => t.Id == found.Id).ExecuteUpdateAsync(set => set.SetProperty(t => t.LastSeenAt, now), cancellationToken);
        }

        return found;
    }

    public async Task<IReadOnlyList<AppToken>> ListLiveAsync(string userId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var tokens = await db.AppTokens.AsNoTracking()
            .Where(t => t.UserId == userId && t.RevokedAt == null && t.ExpiresAt > now)
            .ToListAsync(cancellationToken);
        return [.. tokens.OrderByDescending(t => t.LastSeenAt)];
    }

    public async Task<bool> RevokeAsync(string userId, long tokenId, CancellationToken cancellationToken = default) =>
        await db.AppTokens.Where(t => t.Id == tokenId && t.UserId == userId && t.RevokedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(t => t.RevokedAt, time.GetUtcNow()), cancellationToken) == 1;

    public Task<int> RevokeAllAsync(string userId, CancellationToken cancellationToken = default) =>
        db.AppTokens.Where(t => t.UserId == userId && t.RevokedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(t => t.RevokedAt, time.GetUtcNow()), cancellationToken);
}

public sealed record IssuedToken(string Token, DateTimeOffset ExpiresAt);
