using System.Security.Cryptography;
using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.RecoveryKeys;

/// <summary>Issues recovery keys: 32 random bytes, returned once as words, stored only as a hash.</summary>
public sealed class RecoveryKeyService(PortalDbContext db, TimeProvider time)
{
    /// <summary>Creates the account's recovery key, replacing any earlier one, and returns its 24 words.</summary>
    public async Task<IReadOnlyList<string>> IssueAsync(string userId, CancellationToken cancellationToken = default)
    {
        var (words, hash) = NewKey();
        var now = time.GetUtcNow();

        // One statement whether or not the account has a key yet, so two issues at once leave one key (the later).
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""
            INSERT INTO "RecoveryKeys" ("UserId", "KeyHash", "CreatedAt") VALUES ({userId}, {hash}, {PortalDbContext.StoredInstant(now)})
            ON CONFLICT ("UserId") DO UPDATE SET "KeyHash" = excluded."KeyHash", "CreatedAt" = excluded."CreatedAt"
            """,
            cancellationToken);
        return words;
    }

    /// <summary>
    /// Replaces the account's key by a new one, only if <paramref name="currentKey"/> is still its key:
    /// one conditional UPDATE, so a key is used up exactly once. Returns the new words, or null.
    /// </summary>
    public async Task<IReadOnlyList<string>?> ReplaceAsync(string userId, byte[] currentKey, CancellationToken cancellationToken = default)
    {
        var currentHash = SHA256.HashData(currentKey);
        var (words, hash) = NewKey();
        var now = time.GetUtcNow();
        var replaced = await db.RecoveryKeys
            .Where(existing => existing.UserId == userId && existing.KeyHash == currentHash)
            .ExecuteUpdateAsync(set => set.SetProperty(k => k.KeyHash, hash).SetProperty(k => k.CreatedAt, now), cancellationToken);
        return replaced == 1 ? words : null;
    }

    /// <summary>A new key as the words to show once and the hash to store; the key bytes are wiped.</summary>
    private static (string[] Words, byte[] Hash) NewKey()
    {
        var key = RandomNumberGenerator.GetBytes(RecoveryKeyCodec.KeyLength);
        try
        {
            return (RecoveryKeyCodec.ToWords(key), SHA256.HashData(key));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Whether <paramref name="key"/> is the account's current recovery key, compared in constant time.</summary>
    public async Task<bool> MatchesAsync(string userId, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        var stored = await db.RecoveryKeys.AsNoTracking()
            .Where(existing => existing.UserId == userId)
            .Select(existing => existing.KeyHash)
            .SingleOrDefaultAsync(cancellationToken);
        return stored is not null && CryptographicOperations.FixedTimeEquals(stored, SHA256.HashData(key.Span));
    }
}
