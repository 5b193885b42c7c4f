using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Sessions;
using Microsoft.EntityFrameworkCore;
using OpenIddict.EntityFrameworkCore.Models;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// The apps signed in to an account through OpenID Connect, as "Signed-in apps" lists them: one entry per sign-in (an
/// OpenIddict ad-hoc authorization with a live token). Signing one out revokes the sign-in and every token issued under
/// it, in one statement each and in the caller's transaction; the consent (a permanent authorization) stays, so the
/// person is not asked again. Keys are "oidc:" + the authorization id.
/// </summary>
public sealed class OidcGrants(PortalDbContext db, TimeProvider time, ILogger<OidcGrants> logger) : ISignedInApps
{
    public const string KeyPrefix = "oidc:";

    private IQueryable<OpenIddictEntityFrameworkCoreAuthorization> Authorizations => db.Set<OpenIddictEntityFrameworkCoreAuthorization>();

    private IQueryable<OpenIddictEntityFrameworkCoreToken> Tokens => db.Set<OpenIddictEntityFrameworkCoreToken>();

    public async Task<IReadOnlyList<SignedInEntry>> ListAsync(string userId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var live = await Authorizations.AsNoTracking()
            .Where(a => a.Subject == userId && a.Status == Statuses.Valid && a.Type == AuthorizationTypes.AdHoc
                && a.Tokens.Any(t => t.Status == Statuses.Valid && t.ExpirationDate > now))
            .Select(a => new
            {
                a.Id,
                Name = a.Application!.DisplayName ?? a.Application.ClientId,
                a.CreationDate,
                LastUsed = a.Tokens.Max(t => t.CreationDate),
            })
            .ToListAsync(cancellationToken);
        return [.. live.Select(a => new SignedInEntry(
            KeyPrefix + a.Id,
            a.Name ?? "An app",
            new DateTimeOffset(DateTime.SpecifyKind(a.CreationDate ?? now, DateTimeKind.Utc)),
            new DateTimeOffset(DateTime.SpecifyKind(a.LastUsed ?? a.CreationDate ?? now, DateTimeKind.Utc)),
            IsCurrent: false))];
    }

    public async Task<bool> SignOutAsync(string userId, string key, CancellationToken cancellationToken) =>
        key.StartsWith(KeyPrefix, StringComparison.Ordinal) && await EndAsync(userId, key[KeyPrefix.Length..], cancellationToken);

    /// <summary>
    /// Claims the one use of a refresh token: true for the first request that presents it, false for every other (one
    /// INSERT … ON CONFLICT DO NOTHING decides, on every node).
    /// </summary>
    public async Task<bool> ClaimRefreshAsync(string tokenId, CancellationToken cancellationToken) =>
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO "OidcRefreshRedemptions" ("TokenId", "RedeemedAt") VALUES ({tokenId}, {PortalDbContext.StoredInstant(time.GetUtcNow())}) ON CONFLICT ("TokenId") DO NOTHING""",
            cancellationToken) == 1;

    /// <summary>Revokes one sign-in of the account and its tokens; false when it was not the account's or already ended.</summary>
    public async Task<bool> EndAsync(string userId, string authorizationId, CancellationToken cancellationToken)
    {
        var ended = await Authorizations.Where(a => a.Id == authorizationId && a.Subject == userId && a.Status == Statuses.Valid)
            .ExecuteUpdateAsync(set => set.SetProperty(a => a.Status, Statuses.Revoked), cancellationToken);
        await RevokeTokensAsync(Tokens.Where(t => t.Authorization!.Id == authorizationId && t.Subject == userId), cancellationToken);
        return ended == 1;
    }

    /// <summary>Revokes every OpenID Connect sign-in and token of the account (a security stamp rotation, "sign out everywhere else").</summary>
    public async Task<int> SignOutAllAsync(string userId, CancellationToken cancellationToken)
    {
        var ended = await Authorizations.Where(a => a.Subject == userId && a.Status == Statuses.Valid && a.Type == AuthorizationTypes.AdHoc)
            .ExecuteUpdateAsync(set => set.SetProperty(a => a.Status, Statuses.Revoked), cancellationToken);
        var tokens = await RevokeTokensAsync(Tokens.Where(t => t.Subject == userId), cancellationToken);
        if (ended + tokens > 0)
        {
            OidcLog.GrantsRevoked(logger, userId, ended);
        }

        return ended;
    }

    private static Task<int> RevokeTokensAsync(IQueryable<OpenIddictEntityFrameworkCoreToken> tokens, CancellationToken cancellationToken) =>
        tokens.Where(t => t.Status == Statuses.Valid || t.Status == Statuses.Inactive || t.Status == Statuses.Redeemed)
            .ExecuteUpdateAsync(set => set.SetProperty(t => t.Status, Statuses.Revoked), cancellationToken);
}
