using System.Security.Claims;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts;

/// <summary>
/// Re-checks the security stamp of a live circuit's user every 30 minutes, so that a signed-out or
/// changed account stops being treated as signed in by long-lived interactive pages.
/// </summary>
internal sealed class SecurityStampRevalidation(
    ILoggerFactory loggerFactory,
    IServiceScopeFactory scopeFactory,
    IOptions<IdentityOptions> options) : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromMinutes(30);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.GetUserAsync(authenticationState.User);
        if (user is null)
        {
            return false;
        }

        // Signed out from another device (the sessions page deletes the browser's row).
        if (authenticationState.User.FindFirstValue(Sessions.BrowserSessionStore.SessionIdClaim) is { } sessionId
            && !await scope.ServiceProvider.GetRequiredService<Sessions.SignedInSessions>().ExistsAsync(sessionId, cancellationToken))
        {
            return false;
        }

        if (!users.SupportsUserSecurityStamp)
        {
            return true;
        }

        var principalStamp = authenticationState.User.FindFirstValue(options.Value.ClaimsIdentity.SecurityStampClaimType);
        return principalStamp == await users.GetSecurityStampAsync(user);
    }
}
