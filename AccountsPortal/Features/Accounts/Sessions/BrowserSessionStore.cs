using System.Security.Claims;
using AccountsPortal.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>Keeps sign-in tickets in the database (<see cref="ITicketStore"/>), one row per signed-in browser.</summary>
public sealed class BrowserSessionStore(IServiceScopeFactory scopes, IDataProtectionProvider dataProtection, TimeProvider time) : ITicketStore
{
    public const string SessionIdClaim = "browser_session_id";
    public const int MaxUserAgentLength = 256;

    // Last-seen times are written at most this often, so that page loads do not each cost a write.
    private static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(1);

    private readonly IDataProtector protector = dataProtection.CreateProtector("AccountsPortal.BrowserSession");

    public Task<string> StoreAsync(AuthenticationTicket ticket) => StoreAsync(ticket, null!, CancellationToken.None);

    public async Task<string> StoreAsync(AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var id = SecretTokens.New();
        // The page that lists sessions tells "this browser" apart by this claim.
        (ticket.Principal.Identity as ClaimsIdentity)?.AddClaim(new Claim(SessionIdClaim, id));
        var now = time.GetUtcNow();
        var userAgent = httpContext?.Request.Headers.UserAgent.ToString();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        db.BrowserSessions.Add(new BrowserSession
        {
            Id = id,
            UserId = ticket.Principal.FindFirstValue(ClaimTypes.NameIdentifier) ?? "",
            ProtectedTicket = Protect(ticket),
            UserAgent = string.IsNullOrEmpty(userAgent) ? null : userAgent[..Math.Min(userAgent.Length, MaxUserAgentLength)],
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = ticket.Properties.ExpiresUtc,
        });
        await db.SaveChangesAsync(cancellationToken);
        return id;
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, null!, CancellationToken.None);

    public async Task RenewAsync(string key, AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var ticketBytes = Protect(ticket);
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<PortalDbContext>().BrowserSessions
            .Where(s => s.Id == key)
            .ExecuteUpdateAsync(set => set
                .SetProperty(s => s.ProtectedTicket, ticketBytes)
                .SetProperty(s => s.ExpiresAt, ticket.Properties.ExpiresUtc)
                .SetProperty(s => s.LastSeenAt, now), cancellationToken);
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, null!, CancellationToken.None);

    public async Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        var session = await db.BrowserSessions.AsNoTracking().SingleOrDefaultAsync(s => s.Id == key, cancellationToken);
        if (session is null || session.ExpiresAt <= now)
        {
            return null;
        }

        if (now - session.LastSeenAt > LastSeenResolution)
        {
            await db.BrowserSessions.Where(s => s.Id == key).ExecuteUpdateAsync(set => set.SetProperty(s => s.LastSeenAt, now), cancellationToken);
        }

        return TicketSerializer.Default.Deserialize(protector.Unprotect(session.ProtectedTicket));
    }

    public Task RemoveAsync(string key) => RemoveAsync(key, null!, CancellationToken.None);

    public async Task RemoveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<PortalDbContext>().BrowserSessions
            .Where(s => s.Id == key).ExecuteDeleteAsync(cancellationToken);
    }

    private byte[] Protect(AuthenticationTicket ticket) => protector.Protect(TicketSerializer.Default.Serialize(ticket));
}
