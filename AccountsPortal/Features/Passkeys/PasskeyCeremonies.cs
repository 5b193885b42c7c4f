using System.Buffers.Text;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The single use of every ceremony. A registration's options are stored when it begins and handed back exactly once
/// (<see cref="StoreAsync"/>, <see cref="ConsumeAsync"/>). An assertion's are not stored: its challenge carries what the
/// answer is checked against (<see cref="PasskeyChallenges"/>), and its use is recorded when it is answered
/// (<see cref="TryUseAsync"/>), in the same table, so a challenge is answered once on every node.
/// </summary>
public sealed class PasskeyCeremonies(PortalDbContext db, TimeProvider time)
{
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
    /// Records the use of an assertion challenge, whatever the answer's outcome: one <c>INSERT … ON CONFLICT DO NOTHING</c>
    /// on the challenge's <see cref="OpenedChallenge.UseId"/>, so of two concurrent answers to one challenge (on one node
    /// or two) only one gets true, and the other's transaction waits for it (PostgreSQL) or for the write lock (SQLite).
    /// The row is kept well past <see cref="OpenedChallenge.ExpiresAt"/> (<see cref="Data.ExpiredRowsCleanup"/>), after which
    /// the challenge no longer opens. False too when the challenge expired since it was opened (its expiry is checked
    /// again here, inside the transaction, as the consuming UPDATE of a stored ceremony checks it).
    /// </summary>
    /// <param name="userId">The account answered for; null for a sign-in (the passkey's account is not yet known).</param>
    /// <param name="boundTo">The login session, browser session or sign-in binding the challenge was sealed for.</param>
    public async Task<bool> TryUseAsync(OpenedChallenge challenge, CeremonyPurpose purpose, string? userId, string? boundTo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        var now = time.GetUtcNow();
        if (challenge.ExpiresAt <= now)
        {
            return false;
        }

        var at = PortalDbContext.StoredInstant(now);
        // Raw SQL: it runs in the write transaction that records the answer. OptionsJson is empty (the options are the
        // challenge's own); Challenge, a required column, holds the same digest as the id.
        return await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO "PasskeyCeremonies" ("Id", "Purpose", "UserId", "LoginSessionId", "OptionsJson", "Challenge", "CreatedAt", "ExpiresAt", "ConsumedAt")
            VALUES ({challenge.UseId}, {purpose.ToString()}, {userId}, {boundTo}, '', {challenge.UseId}, {at}, {PortalDbContext.StoredInstant(challenge.ExpiresAt)}, {at})
            ON CONFLICT ("Id") DO NOTHING
            """, cancellationToken) == 1;
    }

    /// <summary>
    /// Uses a stored ceremony (a registration's) up when it still matches purpose, user and login session and is unexpired and unused: one
    /// conditional UPDATE, so of two concurrent finishes only one gets true.
    /// </summary>
    private async Task<bool> TryConsumeAsync(string ceremonyId, CeremonyPurpose purpose, string? userId, string? loginSessionId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
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
