using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>Creates, verifies and consumes login sessions. Every state change is a single conditional UPDATE.</summary>
public sealed class LoginSessionService(
    PortalDbContext db,
    SecondFactorDirectory secondFactors,
    TimeProvider time,
    IOptions<LoginSessionOptions> options)
{
    public const string CompletionPath = "/account/complete-sign-in";

    /// <summary>Starts a login for a user whose password was just checked, in the portal or for a client app.</summary>
    public async Task<StartedLogin> StartAsync(string userId, string? returnUrl, string? clientId = null, CancellationToken cancellationToken = default)
    {
        var factor = await secondFactors.RequiredForAsync(userId, cancellationToken);
        var browserSecret = SecretTokens.New();
        var now = time.GetUtcNow();
        var session = new LoginSession
        {
            Id = SecretTokens.New(),
            UserId = userId,
            BrowserBindingHash = SecretTokens.Hash(browserSecret),
            SecondFactor = factor?.Name,
            State = factor is null ? LoginSessionState.Verified : LoginSessionState.AwaitingSecondFactor,
            VerifiedAt = factor is null ? now : null,
            ReturnUrl = LocalReturnUrl.Sanitize(returnUrl),
            ClientId = clientId,
            CreatedAt = now,
            ExpiresAt = now + options.Value.Lifetime,
        };
        db.LoginSessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);

        var next = factor?.VerifyPath(session.Id) ?? CompletionUrl(session.Id);
        return new StartedLogin(session.Id, browserSecret, next, session.ExpiresAt, factor?.Name);
    }

    public static string CompletionUrl(string sessionId) =>
        $"{CompletionPath}?session={Uri.EscapeDataString(sessionId)}";

    /// <summary>The session if it can still be worked on: not expired, consumed or failed.</summary>
    public Task<LoginSession?> FindLiveAsync(string? sessionId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        return db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId && s.ConsumedAt == null && s.ExpiresAt > now && s.State != LoginSessionState.Failed)
            .SingleOrDefaultAsync(cancellationToken);
    }

    /// <summary>Where a login session stands, as a verify page shows it.</summary>
    public async Task<LoginSessionStatus> GetStatusAsync(string? sessionId, CancellationToken cancellationToken = default)
    {
        var session = await db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId)
            .Select(s => new { s.State, s.ConsumedAt, s.ExpiresAt })
            .SingleOrDefaultAsync(cancellationToken);
        return session switch
        {
            null => LoginSessionStatus.Expired,
            { ConsumedAt: not null } => LoginSessionStatus.Completed,
            _ when session.ExpiresAt <= time.GetUtcNow() => LoginSessionStatus.Expired,
            { State: LoginSessionState.Failed } => LoginSessionStatus.Failed,
            { State: LoginSessionState.Verified } => LoginSessionStatus.Verified,
            _ => LoginSessionStatus.AwaitingSecondFactor,
        };
    }

    /// <summary>Whether <paramref name="browserSecret"/> is the pending-login cookie of the browser that started the session.</summary>
    public Task<bool> IsStartedByAsync(string? sessionId, string? browserSecret, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(sessionId) || string.IsNullOrEmpty(browserSecret))
        {
            return Task.FromResult(false);
        }

        var binding = SecretTokens.Hash(browserSecret);
        return db.LoginSessions.AnyAsync(s => s.Id == sessionId && s.BrowserBindingHash == binding, cancellationToken);
    }

    /// <summary>Marks a live session as verified by its second factor. False if it was not awaiting one.</summary>
    public async Task<bool> MarkVerifiedAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var updated = await db.LoginSessions
            .Where(s => s.Id == sessionId && s.State == LoginSessionState.AwaitingSecondFactor && s.ConsumedAt == null && s.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.State, LoginSessionState.Verified).SetProperty(s => s.VerifiedAt, now), cancellationToken);
        return updated == 1;
    }

    /// <summary>
    /// Counts a failed second-factor attempt; the attempt that reaches the limit closes the session.
    /// Returns the attempts left (0 when the session is closed or gone).
    /// </summary>
    public async Task<int> RecordFailedAttemptAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var max = options.Value.MaxFailedAttempts;
        var now = time.GetUtcNow();
        await db.LoginSessions
            .Where(s => s.Id == sessionId && s.State == LoginSessionState.AwaitingSecondFactor && s.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set
                .SetProperty(s => s.FailedAttempts, s => s.FailedAttempts + 1)
                .SetProperty(s => s.State, s => s.FailedAttempts + 1 >= max ? LoginSessionState.Failed : s.State), cancellationToken);

        var attempts = await db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId && s.State == LoginSessionState.AwaitingSecondFactor)
            .Select(s => (int?)s.FailedAttempts)
            .SingleOrDefaultAsync(cancellationToken);
        return attempts is null ? 0 : max - attempts.Value;
    }

    /// <summary>
    /// Consumes a verified session for the browser holding its pending-login secret. Exactly one
    /// caller can succeed, however many ask at once.
    /// </summary>
    public async Task<ConsumedLogin> ConsumeAsync(string? sessionId, string? browserSecret, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(sessionId) || string.IsNullOrEmpty(browserSecret))
        {
            return ConsumedLogin.Refused;
        }

        var binding = SecretTokens.Hash(browserSecret);
        var now = time.GetUtcNow();
        var consumed = await db.LoginSessions
            .Where(s => s.Id == sessionId && s.BrowserBindingHash == binding && s.State == LoginSessionState.Verified
                && s.ConsumedAt == null && s.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.ConsumedAt, now), cancellationToken);
        if (consumed != 1)
        {
            return ConsumedLogin.Refused;
        }

        var session = await db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId)
            .Select(s => new { s.UserId, s.ReturnUrl, s.SecondFactor })
            .SingleAsync(cancellationToken);
        return new ConsumedLogin(session.UserId, session.ReturnUrl, session.SecondFactor);
    }

}

public enum LoginSessionStatus
{
    AwaitingSecondFactor,
    Verified,
    Completed,
    Failed,
    Expired,
}

public sealed record StartedLogin(string SessionId, string BrowserSecret, string NextUrl, DateTimeOffset ExpiresAt, string? SecondFactor);

public sealed record ConsumedLogin(string? UserId, string ReturnUrl, string? SecondFactor = null)
{
    public static readonly ConsumedLogin Refused = new(null, LocalReturnUrl.Default);

    public bool Succeeded => UserId is not null;
}
