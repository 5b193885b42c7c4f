using System.Buffers.Text;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Passkeys;

/// <summary>Stores ceremony options server-side and hands each one back exactly once.</summary>
public sealed class PasskeyCeremonies(PortalDbContext db, TimeProvider time)
{
    public async Task<string> StoreAsync(CeremonyPurpose purpose, string userId, string? loginSessionId, string optionsJson, byte[] challenge, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var ceremony = new PasskeyCeremony
        {
            Id = SecretTokens.New(),
            Purpose = purpose,
            UserId = userId,
            LoginSessionId = loginSessionId,
            OptionsJson = optionsJson,
            Challenge = Base64Url.EncodeToString(challenge),
            CreatedAt = now,
            ExpiresAt = now + lifetime,
        };
        db.PasskeyCeremonies.Add(ceremony);
        await db.SaveChangesAsync(cancellationToken);
        db.Entry(ceremony).State = EntityState.Detached;
        return ceremony.Id;
    }

    /// <summary>The ceremony of <paramref name="purpose"/> bound to a session that handed out <paramref name="challenge"/>, for answers that carry no ceremony id.</summary>
    public Task<string?> FindCeremonyAsync(CeremonyPurpose purpose, string boundTo, string? challenge, CancellationToken cancellationToken) =>
        string.IsNullOrEmpty(challenge)
            ? Task.FromResult<string?>(null)
            : db.PasskeyCeremonies.AsNoTracking()
                .Where(c => c.LoginSessionId == boundTo && c.Purpose == purpose && c.Challenge == challenge)
                .Select(c => c.Id)
                .FirstOrDefaultAsync(cancellationToken);

    /// <summary>
    /// The options of the ceremony when it matches purpose, user and login session and is unexpired and unused; null
    /// otherwise. Reads only: <see cref="TryConsumeAsync"/> uses it up.
    /// </summary>
    public Task<string?> FindUsableAsync(string? ceremonyId, CeremonyPurpose purpose, string userId, string? loginSessionId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(ceremonyId))
        {
            return Task.FromResult<string?>(null);
        }

        var now = time.GetUtcNow();
        return db.PasskeyCeremonies.AsNoTracking()
            .Where(c => c.Id == ceremonyId && c.Purpose == purpose && c.UserId == userId && c.LoginSessionId == loginSessionId
                && c.ConsumedAt == null && c.ExpiresAt > now)
            .Select(c => c.OptionsJson)
            .SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>
    /// Uses the ceremony up when it still matches purpose, user and login session and is unexpired and unused: one
    /// conditional UPDATE, so of two concurrent finishes only one gets true.
    /// </summary>
    public async Task<bool> TryConsumeAsync(string ceremonyId, CeremonyPurpose purpose, string userId, string? loginSessionId, CancellationToken cancellationToken)
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
