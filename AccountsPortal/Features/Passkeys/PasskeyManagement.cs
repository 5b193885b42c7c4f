using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// Lists, renames and deletes an account's passkeys; every query is scoped to the account. Renaming and
/// deleting are security changes: they need the browser's recent confirmation (<see cref="Accounts.Sessions.RecentConfirmation"/>).
/// </summary>
public sealed class PasskeyManagement(
    PortalDbContext db,
    IOptions<PasskeyOptions> options,
    Providers.PasskeyProviders providers,
    Accounts.Sessions.RecentConfirmation confirmation,
    Activity.SecurityEvents events,
    Accounts.AccountSecurity accountSecurity,
    ILogger<PasskeyManagement> logger)
{
    public async Task<IReadOnlyList<PasskeySummary>> ListAsync(string userId, CancellationToken cancellationToken = default)
    {
        var passkeys = await db.Passkeys.AsNoTracking()
            .Where(p => p.UserId == userId)
            .Select(p => new { p.Id, p.Name, p.Aaguid, p.IsBackedUp, p.PossiblyCloned, p.CreatedAt, p.LastUsedAt, p.IsDiscoverable })
            .ToListAsync(cancellationToken);
        return [.. passkeys
            .OrderBy(p => p.CreatedAt)
            .Select(p => new PasskeySummary(p.Id, p.Name, providers.Find(p.Aaguid), p.IsBackedUp, p.PossiblyCloned, p.CreatedAt, p.LastUsedAt)
            {
                IsDiscoverable = p.IsDiscoverable,
            })];
    }

    /// <param name="browserSessionId">The browser renaming it, which must have confirmed it's the owner recently.</param>
    public async Task<PasskeyOutcome> RenameAsync(string userId, long passkeyId, string? name, string? browserSessionId, CancellationToken cancellationToken = default)
    {
        var valid = PasskeyName.Normalize(name, options.Value.MaxNameLength);
        if (!valid.IsValid)
        {
            return PasskeyOutcome.Fail(valid.Error!);
        }

        if (!await confirmation.IsFreshAsync(userId, browserSessionId, cancellationToken))
        {
            return PasskeyOutcome.Fail(Accounts.Sessions.RecentConfirmation.Required);
        }

        var oldName = await NameOfAsync(userId, passkeyId, cancellationToken);
        var updated = await db.Passkeys.Where(p => p.Id == passkeyId && p.UserId == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.Name, valid.Name), cancellationToken);
        if (updated != 1)
        {
            return PasskeyOutcome.Fail("That passkey no longer exists.");
        }

        await events.RecordAsync(userId, Activity.SecurityEventKind.PasskeyRenamed, $"{oldName} → {valid.Name}", cancellationToken);
        return PasskeyOutcome.Success(passkeyId);
    }

    /// <param name="keepBrowserSessionId">
    /// The browser deleting the passkey, which must have confirmed it's the owner recently (the recovery key
    /// counts for the last passkey); it stays signed in while every other session and app token ends.
    /// </param>
    public async Task<PasskeyOutcome> DeleteAsync(string userId, long passkeyId, string? keepBrowserSessionId, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, keepBrowserSessionId, cancellationToken))
        {
            return PasskeyOutcome.Fail(Accounts.Sessions.RecentConfirmation.Required);
        }

        var name = await NameOfAsync(userId, passkeyId, cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var deleted = await db.Passkeys.Where(p => p.Id == passkeyId && p.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        if (deleted != 1)
        {
            return PasskeyOutcome.Fail("That passkey no longer exists.");
        }

        await events.RecordAsync(userId, Activity.SecurityEventKind.PasskeyDeleted, name, cancellationToken);
        await accountSecurity.RotateAsync(userId, keepBrowserSessionId, "passkey deleted", cancellationToken);
        await transaction.CommitAsync(cancellationToken);

        Activity.SecurityLog.PasskeyDeleted(logger, passkeyId, userId);
        return PasskeyOutcome.Success(passkeyId);
    }

    private Task<string?> NameOfAsync(string userId, long passkeyId, CancellationToken cancellationToken) =>
        db.Passkeys.Where(p => p.Id == passkeyId && p.UserId == userId).Select(p => p.Name).SingleOrDefaultAsync(cancellationToken);
}

/// <summary>One passkey as its owner's list shows it.</summary>
/// <param name="Provider">Where the passkey says it is kept, from its AAGUID (<see cref="Providers.PasskeyProviders"/>); null when unknown.</param>
public sealed record PasskeySummary(
    long Id,
    string Name,
    Providers.PasskeyProvider? Provider,
    bool IsBackedUp,
    bool PossiblyCloned,
    DateTimeOffset CreatedAt,
    DateTimeOffset? LastUsedAt)
{
    /// <summary>Synced passkeys live in a password manager's cloud; the others are bound to one device.</summary>
    public bool IsSynced => IsBackedUp;

    /// <summary>Whether it can sign in without a password (discoverable, <see cref="Passkey.IsDiscoverable"/>); null when the browser did not say.</summary>
    public bool? IsDiscoverable { get; init; }
}
