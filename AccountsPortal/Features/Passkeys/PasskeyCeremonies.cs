using System.Buffers.Text;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Passkeys;

/// <summary>Stores ceremony options server-side and hands each one back exactly once.</summary>
public sealed class PasskeyCeremonies(PortalDbContext db, TimeProvider time)
{
    private static readonly CompiledQuery<Func<PortalDbContext, string, CeremonyPurpose, string?, string?, DateTimeOffset, CancellationToken, Task<UsableCeremony?>>> UsableById = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string ceremonyId, CeremonyPurpose purpose, string? userId, string? loginSessionId, DateTimeOffset now, CancellationToken _) =>
            db.PasskeyCeremonies.AsNoTracking()
                .Where(c => c.Id == ceremonyId && c.Purpose == purpose && c.UserId == userId && c.LoginSessionId == loginSessionId && c.ConsumedAt == null && c.ExpiresAt > now)
                .Select(c => new UsableCeremony(c.Id, c.OptionsJson))
                .FirstOrDefault()));

    private static readonly CompiledQuery<Func<PortalDbContext, string, CeremonyPurpose, string?, string?, DateTimeOffset, CancellationToken, Task<UsableCeremony?>>> UsableByChallenge = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string challenge, CeremonyPurpose purpose, string? userId, string? loginSessionId, DateTimeOffset now, CancellationToken _) =>
            db.PasskeyCeremonies.AsNoTracking()
                .Where(c => c.Challenge == challenge && c.Purpose == purpose && c.UserId == userId && c.LoginSessionId == loginSessionId && c.ConsumedAt == null && c.ExpiresAt > now)
                .Select(c => new UsableCeremony(c.Id, c.OptionsJson))
                .FirstOrDefault()));

    public async Task<string> StoreAsync(CeremonyPurpose purpose, string? userId, string? loginSessionId, string optionsJson, byte[] challenge, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(optionsJson);
        ArgumentNullException.ThrowIfNull(challenge);
        var now = time.GetUtcNow();
        var id = SecretTokens.New();
        // Raw SQL (the INSERT EF Core made for the entity): a write of its own that takes SQLite's write lock, so
        // change tracking's cost was time every other writer waited.
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO "PasskeyCeremonies" ("Id", "Purpose", "UserId", "LoginSessionId", "OptionsJson", "Challenge", "CreatedAt", "ExpiresAt")
            VALUES ({id}, {purpose.ToString()}, {userId}, {loginSessionId}, {optionsJson}, {Base64Url.EncodeToString(challenge)},
                {PortalDbContext.StoredInstant(now)}, {PortalDbContext.StoredInstant(now + lifetime)})
            """, cancellationToken);
        return id;
    }

    /// <summary>
    /// The ceremony an answer is for, when it matches purpose, user and login session and is unexpired and unused:
    /// the one named by <paramref name="ceremonyId"/>, or (for answers that carry no ceremony id) the one that handed
    /// out <paramref name="challenge"/>. Null otherwise. Reads only: <see cref="TryConsumeAsync"/> uses it up.
    /// </summary>
    public async Task<(string Id, string OptionsJson)?> FindUsableAsync(
        string? ceremonyId, string? challenge, CeremonyPurpose purpose, string? userId, string? loginSessionId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(ceremonyId) && string.IsNullOrEmpty(challenge))
        {
            return null;
        }

        var now = time.GetUtcNow();
        var found = string.IsNullOrEmpty(ceremonyId)
            ? await UsableByChallenge.For(db)(db, challenge!, purpose, userId, loginSessionId, now, cancellationToken)
            : await UsableById.For(db)(db, ceremonyId, purpose, userId, loginSessionId, now, cancellationToken);
        return found is null ? null : (found.Id, found.OptionsJson);
    }

    /// <summary>
    /// Uses the ceremony up when it still matches purpose, user and login session and is unexpired and unused: one
    /// conditional UPDATE, so of two concurrent finishes only one gets true.
    /// </summary>
    public async Task<bool> TryConsumeAsync(string ceremonyId, CeremonyPurpose purpose, string? userId, string? loginSessionId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (userId is not null && loginSessionId is not null)
        {
            // Raw SQL (the statement EF Core made of the LINQ form below) for the login and confirmation ceremonies: it
            // runs in the write transaction that records the answer.
            var at = PortalDbContext.StoredInstant(now);
            return await db.Database.ExecuteSqlInterpolatedAsync($"""
                UPDATE "PasskeyCeremonies" SET "ConsumedAt" = {at}
                WHERE "Id" = {ceremonyId} AND "Purpose" = {purpose.ToString()} AND "UserId" = {userId} AND "LoginSessionId" = {loginSessionId}
                    AND "ConsumedAt" IS NULL AND "ExpiresAt" > {at}
                """, cancellationToken) == 1;
        }

        return await db.PasskeyCeremonies
            .Where(c => c.Id == ceremonyId && c.Purpose == purpose && c.UserId == userId && c.LoginSessionId == loginSessionId
                && c.ConsumedAt == null && c.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set.SetProperty(c => c.ConsumedAt, now), cancellationToken) == 1;
    }

    /// <summary>Uses the ceremony up (<see cref="TryConsumeAsync"/>) and returns its options; null when it could not be used.</summary>
    public async Task<string?> ConsumeAsync(string? ceremonyId, CeremonyPurpose purpose, string userId, string? loginSessionId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(ceremonyId) || !await TryConsumeAsync(ceremonyId, purpose, userId, loginSessionId, cancellationToken))
        {
            return null;
        }

        return await db.PasskeyCeremonies.AsNoTracking()
            .Where(c => c.Id == ceremonyId)
            .Select(c => c.OptionsJson)
            .SingleAsync(cancellationToken);
    }
}

/// <summary>A ceremony <see cref="PasskeyCeremonies.FindUsableAsync"/> found: its id and options.</summary>
internal sealed record UsableCeremony(string Id, string OptionsJson);
