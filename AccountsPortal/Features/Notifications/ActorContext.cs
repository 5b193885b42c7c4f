using System.Security.Claims;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Sessions;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Notifications;

/// <summary>Who did something, as an email to the owner names it: the browser (or app) and its IP address.</summary>
/// <param name="Device">"Chrome on Linux", or an app's name.</param>
/// <param name="Ip">The address, or null when unknown.</param>
public sealed record Actor(string Device, string? Ip);

/// <summary>
/// Describes the caller of the current unit of work: the HTTP request's User-Agent and address for form
/// posts and API calls; in a Blazor circuit without a request, the signed-in browser's session (the
/// User-Agent and address it signed in with).
/// </summary>
public sealed class ActorContext(IHttpContextAccessor http, PortalDbContext db, IServiceProvider services)
{
    public async Task<Actor> DescribeAsync(CancellationToken cancellationToken = default)
    {
        if (http.HttpContext is { } context)
        {
            return new Actor(UserAgentName.Describe(context.Request.Headers.UserAgent.ToString()), context.Connection.RemoteIpAddress?.ToString());
        }

        if (await CircuitUserAsync() is { } user && user.FindFirstValue(BrowserSessionStore.SessionIdClaim) is { } sessionId)
        {
            var session = await db.BrowserSessions.AsNoTracking().Where(s => s.Id == sessionId)
                .Select(s => new { s.UserAgent, s.Ip }).SingleOrDefaultAsync(cancellationToken);
            if (session is not null)
            {
                return new Actor(UserAgentName.Describe(session.UserAgent), session.Ip);
            }
        }

        return new Actor("Unknown browser", null);
    }

    /// <summary>The signed-in user of the Blazor circuit this scope belongs to; null outside a circuit (a background job, a test).</summary>
    private async Task<ClaimsPrincipal?> CircuitUserAsync()
    {
        try
        {
            return services.GetService<AuthenticationStateProvider>() is { } provider ? (await provider.GetAuthenticationStateAsync()).User : null;
        }
        catch (InvalidOperationException)
        {
            // Not a Razor component's scope: there is no circuit, and so no signed-in browser to name.
            return null;
        }
    }
}
