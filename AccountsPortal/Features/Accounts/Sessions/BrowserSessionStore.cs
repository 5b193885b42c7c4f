using System.Buffers.Text;
using System.Security.Claims;
using AccountsPortal.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>
/// Keeps sign-in tickets in the database (<see cref="ITicketStore"/>), one row per signed-in browser.
/// A ticket is only handed back while its row exists and carries the account's current security stamp,
/// so deleting the row or rotating the stamp ends the session on the next request, on every node.
/// </summary>
/// <remarks>
/// The sign-in cookie carries the session's <em>key</em>, 256 random bits; the row is stored under the key's
/// SHA-256 (<see cref="SessionIdOf"/>), like every other token the portal keeps, so a copy of the database does not
/// hold a key that a cookie could carry. The row's id — the <em>browser session id</em> — is what the ticket's
/// <see cref="SessionIdClaim"/> holds and what pages use to tell "this browser" apart; it is not a secret.
/// </remarks>
public sealed class BrowserSessionStore(
    IServiceScopeFactory scopes, IDataProtectionProvider dataProtection, IOptions<IdentityOptions> identityOptions, TimeProvider time) : ITicketStore
{
    /// <summary>The claim holding the browser session id (the row's id, never the cookie's key).</summary>
    public const string SessionIdClaim = "browser_session_id";
    public const int MaxUserAgentLength = 256;

    // Last-seen times are written at most this often, so that page loads do not each cost a write.
    private static readonly TimeSpan LastSeenResolution = TimeSpan.FromMinutes(1);

    private readonly IDataProtector protector = dataProtection.CreateProtector("AccountsPortal.BrowserSession");

    private string StampClaimType => identityOptions.Value.ClaimsIdentity.SecurityStampClaimType;

    public Task<string> StoreAsync(AuthenticationTicket ticket) => StoreAsync(ticket, null!, CancellationToken.None);

    public async Task<string> StoreAsync(AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var key = SecretTokens.New();
        var id = SessionIdOf(key);
        // The page that lists sessions tells "this browser" apart by this claim.
        EnsureSessionIdClaim(ticket, id);
        var now = time.GetUtcNow();
        var userAgent = httpContext?.Request.Headers.UserAgent.ToString();
        // A completing login (LoginCompletion) holds a transaction on its request's context: the row joins it, so the
        // login session's consumption and this sign-in commit together or not at all.
        var requestDb = httpContext?.RequestServices.GetService<PortalDbContext>();
        await using var scope = requestDb?.Database.CurrentTransaction is null ? scopes.CreateAsyncScope() : (AsyncServiceScope?)null;
        var db = scope?.ServiceProvider.GetRequiredService<PortalDbContext>() ?? requestDb!;
        var session = new BrowserSession
        {
            Id = id,
            UserId = ticket.Principal.FindFirstValue(ClaimTypes.NameIdentifier) ?? "",
            ProtectedTicket = Protect(ticket),
            UserAgent = string.IsNullOrEmpty(userAgent) ? null : userAgent[..Math.Min(userAgent.Length, MaxUserAgentLength)],
            Ip = httpContext?.Connection.RemoteIpAddress?.ToString(),
            SecurityStamp = ticket.Principal.FindFirstValue(StampClaimType),
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = ticket.Properties.ExpiresUtc,
            // A sign-in counts as a confirmation at its time: it passed the account's factors a moment ago.
            ConfirmedAt = now,
        };
        db.BrowserSessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);
        db.Entry(session).State = EntityState.Detached;
        return key;
    }

    /// <summary>
    /// The browser session id stored for a session key: base64url of the key's SHA-256 (43 characters). The key
    /// itself is only ever in the browser's (encrypted) sign-in cookie.
    /// </summary>
    public static string SessionIdOf(string key) => Base64Url.EncodeToString(SecretTokens.Hash(key));

    public Task RenewAsync(string key, AuthenticationTicket ticket) => RenewAsync(key, ticket, null!, CancellationToken.None);

    public async Task RenewAsync(string key, AuthenticationTicket ticket, HttpContext httpContext, CancellationToken cancellationToken)
    {
        // Identity's security stamp revalidation builds a new principal without our claim: keep it.
        var id = SessionIdOf(key);
        EnsureSessionIdClaim(ticket, id);
        var ticketBytes = Protect(ticket);
        var stamp = ticket.Principal.FindFirstValue(StampClaimType);
        var userId = ticket.Principal.FindFirstValue(ClaimTypes.NameIdentifier) ?? "";
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        // Never moves a row to another account: a sign-in as someone else always gets a new row (LoginCompletion).
        // Never puts an older stamp back either: a request that changed its account's security re-stamped this row
        // (RestampAsync) after it was authenticated, and renews at its end with the ticket it read before.
        await scope.ServiceProvider.GetRequiredService<PortalDbContext>().BrowserSessions
            .Where(s => s.Id == id && s.UserId == userId && s.SecurityStamp == stamp)
            .ExecuteUpdateAsync(set => set
                .SetProperty(s => s.ProtectedTicket, ticketBytes)
                .SetProperty(s => s.SecurityStamp, stamp)
                .SetProperty(s => s.ExpiresAt, ticket.Properties.ExpiresUtc)
                .SetProperty(s => s.LastSeenAt, now), cancellationToken);
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key) => RetrieveAsync(key, null!, CancellationToken.None);

    public async Task<AuthenticationTicket?> RetrieveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var id = SessionIdOf(key);
        var now = time.GetUtcNow();
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        var session = await db.BrowserSessions.AsNoTracking()
            .Where(s => s.Id == id)
            .Select(s => new { s.ProtectedTicket, s.ExpiresAt, s.LastSeenAt, s.SecurityStamp, AccountStamp = db.Users.Where(u => u.Id == s.UserId).Select(u => u.SecurityStamp).FirstOrDefault() })
            .SingleOrDefaultAsync(cancellationToken);
        if (session is null || session.ExpiresAt <= now || session.SecurityStamp != session.AccountStamp)
        {
            return null;
        }

        if (now - session.LastSeenAt > LastSeenResolution)
        {
            await db.BrowserSessions.Where(s => s.Id == id).ExecuteUpdateAsync(set => set.SetProperty(s => s.LastSeenAt, now), cancellationToken);
        }

        var ticket = TicketSerializer.Default.Deserialize(protector.Unprotect(session.ProtectedTicket));
        if (ticket is not null)
        {
            EnsureSessionIdClaim(ticket, id);
        }

        return ticket;
    }

    public Task RemoveAsync(string key) => RemoveAsync(key, null!, CancellationToken.None);

    public async Task RemoveAsync(string key, HttpContext httpContext, CancellationToken cancellationToken)
    {
        var id = SessionIdOf(key);
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<PortalDbContext>().BrowserSessions
            .Where(s => s.Id == id).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>
    /// Puts the account's new security stamp into a kept session's ticket, in the caller's context (and
    /// transaction), so the browser that changed its account's security stays signed in.
    /// </summary>
    /// <param name="claims">Other claims to replace in the kept ticket (after an email change: the name and email).</param>
    /// <param name="sessionId">The browser session id (<see cref="SessionIdClaim"/>), not the cookie's key.</param>
    public async Task RestampAsync(
        PortalDbContext db, string sessionId, string userId, string stamp, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? claims = null)
    {
        var stored = await db.BrowserSessions.AsNoTracking()
            .Where(s => s.Id == sessionId && s.UserId == userId).Select(s => s.ProtectedTicket).SingleOrDefaultAsync(cancellationToken);
        if (stored is null || TicketSerializer.Default.Deserialize(protector.Unprotect(stored)) is not { } ticket)
        {
            return;
        }

        ReplaceClaim(ticket, StampClaimType, stamp);
        foreach (var (type, value) in claims ?? new Dictionary<string, string>())
        {
            ReplaceClaim(ticket, type, value);
        }

        var ticketBytes = Protect(ticket);
        await db.BrowserSessions.Where(s => s.Id == sessionId && s.UserId == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.ProtectedTicket, ticketBytes).SetProperty(s => s.SecurityStamp, stamp), cancellationToken);
    }

    private static void EnsureSessionIdClaim(AuthenticationTicket ticket, string sessionId) => ReplaceClaim(ticket, SessionIdClaim, sessionId);

    /// <summary>Leaves the ticket's identity with exactly one claim of <paramref name="type"/>, of <paramref name="value"/>.</summary>
    private static void ReplaceClaim(AuthenticationTicket ticket, string type, string value)
    {
        if (ticket.Principal.Identity is not ClaimsIdentity identity || identity.FindAll(type).Select(c => c.Value).SequenceEqual([value]))
        {
            return;
        }

        foreach (var old in identity.FindAll(type).ToList())
        {
            identity.RemoveClaim(old);
        }

        identity.AddClaim(new Claim(type, value));
    }

    private byte[] Protect(AuthenticationTicket ticket) => protector.Protect(TicketSerializer.Default.Serialize(ticket));
}
