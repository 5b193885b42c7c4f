using AccountsPortal.Features.Accounts.Sessions;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>The Apps feature's answer to the sessions page: the apps holding live tokens.</summary>
public sealed class SignedInApps(AppTokens tokens, IOptions<AppsOptions> options) : ISignedInApps
{
    public async Task<IReadOnlyList<SignedInEntry>> ListAsync(string userId, CancellationToken cancellationToken)
    {
        var live = await tokens.ListLiveAsync(userId, cancellationToken);
        return [.. live.Select(t => new SignedInEntry(
            t.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            options.Value.Clients.FirstOrDefault(c => c.ClientId == t.ClientId)?.Name ?? t.ClientId,
            t.CreatedAt,
            t.LastSeenAt,
            IsCurrent: false))];
    }

    /// <summary>An app token's key is its row id; any other key is another provider's.</summary>
    public Task<bool> SignOutAsync(string userId, string key, CancellationToken cancellationToken) =>
        long.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
            ? tokens.RevokeAsync(userId, id, cancellationToken)
            : Task.FromResult(false);

    public Task<int> SignOutAllAsync(string userId, CancellationToken cancellationToken) => tokens.RevokeAllAsync(userId, cancellationToken);
}
