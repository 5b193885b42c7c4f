using System.Security.Claims;
using AccountsPortal.Data;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts;

/// <summary>
/// Re-checks a live circuit's sign-in every <see cref="SecurityOptions.SessionRevalidationInterval"/> (at most a minute): its browser session must still exist
/// and carry the account's current security stamp. A browser signed out elsewhere, or ended by a change
/// to the account's factors, so stops being treated as signed in by long-lived interactive pages.
/// </summary>
internal sealed class SecurityStampRevalidation(
    ILoggerFactory loggerFactory,
    IServiceScopeFactory scopeFactory,
    IOptions<IdentityOptions> options,
    IOptions<SecurityOptions> security) : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => security.Value.SessionRevalidationInterval;

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        var principal = authenticationState.User;
        var userId = principal.FindFirstValue(ClaimTypes.NameIdentifier);
        if (userId is null)
        {
            return false;
        }

        // The session row is what remote sign-out deletes and what a stamp rotation re-stamps for the browser that made the change.
        if (principal.FindFirstValue(Sessions.BrowserSessionStore.SessionIdClaim) is { } sessionId)
        {
            return await db.BrowserSessions.AnyAsync(
                s => s.Id == sessionId && s.UserId == userId
                    && s.SecurityStamp == db.Users.Where(u => u.Id == s.UserId).Select(u => u.SecurityStamp).FirstOrDefault(),
                cancellationToken);
        }

        var principalStamp = principal.FindFirstValue(options.Value.ClaimsIdentity.SecurityStampClaimType);
        return await db.Users.AnyAsync(u => u.Id == userId && u.SecurityStamp == principalStamp, cancellationToken);
    }
}
