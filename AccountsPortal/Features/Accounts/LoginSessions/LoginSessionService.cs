using System.Security.Cryptography;
using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// Creates, verifies and consumes login sessions. Every state change is a single conditional UPDATE
/// whose WHERE clause carries every rule (state, expiry, who may act), so a refusal changes nothing.
/// </summary>
public sealed class LoginSessionService(
    PortalDbContext db,
    SecondFactorDirectory secondFactors,
    TimeProvider time,
    IOptions<LoginSessionOptions> options)
{
    public const string CompletionPath = "/account/complete-sign-in";

    private static readonly CompiledQuery<Func<PortalDbContext, string?, DateTimeOffset, CancellationToken, Task<LoginSession?>>> FindLiveQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string? sessionId, DateTimeOffset now, CancellationToken _) =>
            db.LoginSessions.AsNoTracking().SingleOrDefault(s => s.Id == sessionId && s.ConsumedAt == null && s.ExpiresAt > now
                && s.State != LoginSessionState.Failed && s.State != LoginSessionState.Refused)));

    /// <summary>Starts a login for a user whose password was just checked, in the portal or for a client app.</summary>
    /// <param name="requester">Who passed the password step, shown to a device asked to approve this login.</param>
    public async Task<StartedLogin> StartAsync(
        string userId, string? returnUrl, string? clientId = null, LoginRequester? requester = null, CancellationToken cancellationToken = default)
    {
        // The stamp is read before the factors: a factor added between the two reads rotates the stamp, so a
        // login started against the old factors can never complete (read the other way round, it could).
        var stamp = await db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync(cancellationToken);
        var factor = await secondFactors.RequiredForAsync(userId, cancellationToken);
        var (session, browserSecret) = await AddAsync(
            userId, stamp, factor?.Name, factor is null ? AuthenticationMethods.PasswordOnly : null, returnUrl, clientId, requester, cancellationToken);
        var next = factor?.VerifyPath(session.Id) ?? CompletionUrl(session.Id);
        return new StartedLogin(session.Id, browserSecret, next, session.ExpiresAt, factor?.Name, session.ApprovalNumber);
    }

    /// <summary>
    /// Starts a login that one step already verified completely (a passkey sign-in: a user-verifying passkey is both
    /// factors), so it waits only for the browser to complete it. It carries the account's current security stamp like
    /// any other login, and <paramref name="factor"/> as its second factor for activity.
    /// </summary>
    /// <param name="methods">How it was verified (<see cref="AuthenticationMethods"/>).</param>
    public async Task<StartedLogin> StartVerifiedAsync(
        string userId, string factor, string methods, string? returnUrl, LoginRequester? requester = null, CancellationToken cancellationToken = default)
    {
        var stamp = await db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync(cancellationToken);
        var (session, browserSecret) = await AddAsync(userId, stamp, factor, methods, returnUrl, null, requester, cancellationToken);
        return new StartedLogin(session.Id, browserSecret, CompletionUrl(session.Id), session.ExpiresAt, factor, session.ApprovalNumber);
    }

    private async Task<(LoginSession Session, string BrowserSecret)> AddAsync(
        string userId, string? stamp, string? factor, string? verifiedBy, string? returnUrl, string? clientId, LoginRequester? requester,
        CancellationToken cancellationToken)
    {
        var verified = verifiedBy is not null;
        var browserSecret = SecretTokens.New();
        var now = time.GetUtcNow();
        var (number, choices) = NewApprovalNumber();
        var session = new LoginSession
        {
            Id = SecretTokens.New(),
            UserId = userId,
            BrowserBindingHash = SecretTokens.Hash(browserSecret),
            SecondFactor = factor,
            State = verified ? LoginSessionState.Verified : LoginSessionState.AwaitingSecondFactor,
            VerifiedAt = verified ? now : null,
            AuthenticationMethods = verifiedBy,
            ReturnUrl = LocalReturnUrl.Sanitize(returnUrl),
            ClientId = clientId,
            ApprovalNumber = number,
            ApprovalChoices = string.Join(' ', choices),
            RequestIp = requester?.Ip?.ToString(),
            RequestUserAgent = requester?.UserAgent,
            SecurityStamp = stamp,
            CreatedAt = now,
            ExpiresAt = now + options.Value.Lifetime,
        };
        db.LoginSessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);
        db.Entry(session).State = EntityState.Detached;
        return (session, browserSecret);
    }

    /// <summary>A random two-digit number and the three choices (it and two other numbers) in random order.</summary>
    private static (int Number, int[] Choices) NewApprovalNumber()
    {
        var number = RandomNumberGenerator.GetInt32(10, 100);
        var choices = new HashSet<int> { number };
        while (choices.Count < 3)
        {
            choices.Add(RandomNumberGenerator.GetInt32(10, 100));
        }

        var shuffled = choices.ToArray();
        RandomNumberGenerator.Shuffle(shuffled.AsSpan());
        return (number, shuffled);
    }

    public static string CompletionUrl(string sessionId, string? returnUrl = null) =>
        $"{CompletionPath}?session={Uri.EscapeDataString(sessionId)}"
        + (returnUrl is null ? "" : $"&returnUrl={Uri.EscapeDataString(returnUrl)}");

    /// <summary>The session if it can still be worked on: not expired, consumed, failed or refused.</summary>
    public Task<LoginSession?> FindLiveAsync(string? sessionId, CancellationToken cancellationToken = default) =>
        FindLiveQuery.For(db)(db, sessionId, time.GetUtcNow(), cancellationToken);

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
            { State: LoginSessionState.Refused } => LoginSessionStatus.Refused,
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

    /// <summary>
    /// Whether <paramref name="proof"/> lets its holder verify the session: the binding secret always, an
    /// approval only when <paramref name="approvalAllowed"/> (passkeys on any device; codes and recovery
    /// keys only for app logins, whose verify page opens in a browser that never held a pending-login cookie).
    /// </summary>
    public Task<bool> IsHeldByAsync(string? sessionId, LoginProof proof, bool approvalAllowed, CancellationToken cancellationToken = default)
    {
        var binding = proof.BindingHash;
        var approval = approvalAllowed ? proof.ApprovalHash : [0];
        return db.LoginSessions.AnyAsync(s => s.Id == sessionId && (s.BrowserBindingHash == binding || s.ApprovalHash == approval), cancellationToken);
    }

    /// <summary>
    /// Marks a live session as verified by its second factor, only for a holder of <paramref name="proof"/>.
    /// False if it was not awaiting one (or the proof does not hold it).
    /// </summary>
    /// <param name="methods">How it was verified (<see cref="AuthenticationMethods"/>), kept for the sign-in ticket and ID tokens.</param>
    /// <param name="securityStamp">The account's new security stamp when the verification itself rotated it (recovery).</param>
    public async Task<bool> MarkVerifiedAsync(
        string sessionId, LoginProof proof, bool approvalAllowed, string methods, string? securityStamp = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sessionId);
        ArgumentNullException.ThrowIfNull(proof);
        var now = PortalDbContext.StoredInstant(time.GetUtcNow());
        var binding = proof.BindingHash;
        var approval = approvalAllowed ? proof.ApprovalHash : [0];
        // Raw SQL (the statement EF Core made of the LINQ form): it runs inside the write transaction of every verified
        // second factor, where the LINQ pipeline's cost was time the write lock was held.
        var updated = await db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE "LoginSessions" SET "State" = {nameof(LoginSessionState.Verified)}, "VerifiedAt" = {now}, "AuthenticationMethods" = {methods},
                "SecurityStamp" = COALESCE({securityStamp}, "SecurityStamp")
            WHERE "Id" = {sessionId} AND "State" = {nameof(LoginSessionState.AwaitingSecondFactor)} AND "ConsumedAt" IS NULL AND "ExpiresAt" > {now}
                AND ("BrowserBindingHash" = {binding} OR "ApprovalHash" = {approval})
            """, cancellationToken);
        return updated == 1;
    }

    /// <summary>
    /// Counts a failed second-factor attempt (a refused passkey, a wrong or used code, a wrong recovery key) with one
    /// conditional UPDATE; the attempt that reaches the limit closes the session, in the same statement.
    /// </summary>
    /// <returns>
    /// The attempts left; 0 when the session is closed by failed attempts (this one or an earlier one); null when
    /// it no longer awaits a second factor for another reason (verified meanwhile, refused, consumed or gone).
    /// </returns>
    public async Task<int?> RecordFailedAttemptAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        var max = options.Value.MaxFailedAttempts;
        var now = time.GetUtcNow();
        await db.LoginSessions
            .Where(s => s.Id == sessionId && s.State == LoginSessionState.AwaitingSecondFactor && s.ExpiresAt > now)
            .ExecuteUpdateAsync(set => set
                .SetProperty(s => s.FailedAttempts, s => s.FailedAttempts + 1)
                .SetProperty(s => s.State, s => s.FailedAttempts + 1 >= max ? LoginSessionState.Failed : s.State), cancellationToken);

        var session = await db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId)
            .Select(s => new { s.State, s.FailedAttempts })
            .SingleOrDefaultAsync(cancellationToken);
        return session switch
        {
            { State: LoginSessionState.AwaitingSecondFactor } => max - session.FailedAttempts,
            { State: LoginSessionState.Failed } => 0,
            _ => null,
        };
    }

    /// <summary>
    /// Consumes a verified portal login for the browser holding its pending-login secret. Exactly one
    /// caller can succeed, however many ask at once; none can once the account's factors (its security
    /// stamp) changed after the login was verified. App logins are never completed in a browser.
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
                && s.ClientId == null && s.ConsumedAt == null && s.ExpiresAt > now
                && s.SecurityStamp == db.Users.Where(u => u.Id == s.UserId).Select(u => u.SecurityStamp).FirstOrDefault())
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.ConsumedAt, now), cancellationToken);
        if (consumed != 1)
        {
            return ConsumedLogin.Refused;
        }

        var session = await db.LoginSessions.AsNoTracking()
            .Where(s => s.Id == sessionId)
            .Select(s => new { s.UserId, s.ReturnUrl, s.SecondFactor, s.AuthenticationMethods })
            .SingleAsync(cancellationToken);
        return new ConsumedLogin(session.UserId, session.ReturnUrl, session.SecondFactor, session.AuthenticationMethods);
    }
}

public enum LoginSessionStatus
{
    AwaitingSecondFactor,
    Verified,
    Completed,
    Failed,
    Expired,

    /// <summary>A device asked to approve it refused it (wrong number or "This wasn't me").</summary>
    Refused,
}

/// <param name="ApprovalNumber">The number this device shows, for another device that approves the login.</param>
public sealed record StartedLogin(string SessionId, string BrowserSecret, string NextUrl, DateTimeOffset ExpiresAt, string? SecondFactor, int ApprovalNumber);

/// <param name="AuthenticationMethods">How the login was verified (<see cref="LoginSessions.AuthenticationMethods"/>).</param>
public sealed record ConsumedLogin(string? UserId, string ReturnUrl, string? SecondFactor = null, string? AuthenticationMethods = null)
{
    public static readonly ConsumedLogin Refused = new(null, LocalReturnUrl.Default);

    public bool Succeeded => UserId is not null;
}
