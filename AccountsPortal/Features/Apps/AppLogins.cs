using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>
/// Logins that apps start through the API: the session secret only the app knows, the one-time code
/// sent to its redirect URI, and the single hand-over of the resulting token (by code, by polling,
/// or straight after the app's own second-factor call).
/// </summary>
public sealed class AppLogins(
    PortalDbContext db,
    LoginSessionService loginSessions,
    AppTokens tokens,
    ClientApps clients,
    IDataProtectionProvider dataProtection,
    TimeProvider time,
    IOptions<AppsOptions> options)
{
    // Every API call of a login reads it first (the passkey step twice).
    private static readonly CompiledQuery<Func<PortalDbContext, string, byte[], CancellationToken, Task<AppLogin?>>> FindQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string sessionId, byte[] secretHash, CancellationToken _) =>
            db.AppLogins.AsNoTracking().SingleOrDefault(l => l.SessionId == sessionId && l.SecretHash == secretHash)));

    // The passkey step's two calls: the app login and its login session while live, in one statement. "Live" is
    // LoginSessionService.FindLiveAsync's: not consumed, expired, failed or refused.
    private static readonly CompiledQuery<Func<PortalDbContext, string, byte[], DateTimeOffset, CancellationToken, Task<AppLoginWithSession?>>> FindWithLiveSessionQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string sessionId, byte[] secretHash, DateTimeOffset now, CancellationToken _) =>
            (from login in db.AppLogins.AsNoTracking()
             where login.SessionId == sessionId && login.SecretHash == secretHash
             join session in db.LoginSessions.AsNoTracking().Where(s => s.ConsumedAt == null && s.ExpiresAt > now
                 && s.State != LoginSessionState.Failed && s.State != LoginSessionState.Refused)
                 on login.SessionId equals session.Id into live
             from session in live.DefaultIfEmpty()
             select new AppLoginWithSession(login, session)).SingleOrDefault()));

    private readonly IDataProtector tokenProtector = dataProtection.CreateProtector("AccountsPortal.AppLoginToken");

    /// <summary>
    /// Starts an app's login after its password check. The session secret returned to the app is the login
    /// session's binding: only the app can verify through the API, and any browser the verify link is
    /// opened in must first pick the approval number the app shows.
    /// </summary>
    public async Task<StartedAppLogin> StartAsync(
        string userId, ClientApp client, string? redirectUri, LoginRequester? requester = null, CancellationToken cancellationToken = default)
    {
        var login = await loginSessions.StartAsync(userId, null, client.ClientId, requester, cancellationToken);
        var secret = login.BrowserSecret;
        db.AppLogins.Add(new AppLogin
        {
            SessionId = login.SessionId,
            ClientId = client.ClientId,
            RedirectUri = redirectUri,
            SecretHash = SecretTokens.Hash(secret),
        });
        await db.SaveChangesAsync(cancellationToken);

        var verifyPath = $"{login.NextUrl}&client_id={Uri.EscapeDataString(client.ClientId)}"
            + (redirectUri is null ? "" : $"&redirect_uri={Uri.EscapeDataString(redirectUri)}");
        return new StartedAppLogin(login.SessionId, secret, login.SecondFactor!, verifyPath, login.ExpiresAt, login.ApprovalNumber);
    }

    /// <summary>The app login behind a session, only for the app that knows its secret.</summary>
    public Task<AppLogin?> FindAsync(string sessionId, string? secret, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return Task.FromResult<AppLogin?>(null);
        }

        return FindQuery.For(db)(db, sessionId, SecretTokens.Hash(secret), cancellationToken);
    }

    /// <summary>
    /// As <see cref="FindAsync"/>, with the login session when it is live (as <see cref="LoginSessionService.FindLiveAsync"/>
    /// finds it), read in the same statement; null when no app login has this id and secret.
    /// </summary>
    public async Task<AppLoginWithSession?> FindWithLiveSessionAsync(string sessionId, string? secret, CancellationToken cancellationToken = default) =>
        string.IsNullOrEmpty(secret)
            ? null
            : await FindWithLiveSessionQuery.For(db)(db, sessionId, SecretTokens.Hash(secret), time.GetUtcNow(), cancellationToken);

    /// <summary>
    /// What a verify, recover or return page does for the app a link names: nothing (a portal login),
    /// continue to it, or refuse. The link must name the app that started the login and exactly the
    /// redirect URI it asked for at <c>POST /api/v1/login</c>, never another registered one.
    /// </summary>
    /// <param name="session">The live login session, or null (then there is nothing to continue to).</param>
    public async Task<AppTarget> TargetOfAsync(LoginSession? session, string? clientId, string? redirectUri, CancellationToken cancellationToken = default)
    {
        if (session is null)
        {
            return AppTarget.NoApp;
        }

        var sessionRedirect = session.ClientId is null
            ? null
            : await db.AppLogins.AsNoTracking().Where(l => l.SessionId == session.Id).Select(l => l.RedirectUri).SingleOrDefaultAsync(cancellationToken);
        return clients.Resolve(clientId, redirectUri, session.ClientId, sessionRedirect);
    }

    /// <summary>A new one-time code for a verified, unclaimed app login; it replaces any earlier code.</summary>
    public async Task<string?> IssueCodeAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        if (await loginSessions.GetStatusAsync(sessionId, cancellationToken) != LoginSessionStatus.Verified)
        {
            return null;
        }

        var code = SecretTokens.New();
        var hash = SecretTokens.Hash(code);
        var expires = time.GetUtcNow() + options.Value.CodeLifetime;
        var updated = await db.AppLogins
            .Where(l => l.SessionId == sessionId && l.ClaimedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(l => l.CodeHash, hash).SetProperty(l => l.CodeExpiresAt, expires), cancellationToken);
        return updated == 1 ? code : null;
    }

    /// <summary>Trades the one-time code for the token, exactly once.</summary>
    public async Task<AppClaim> ExchangeCodeAsync(string sessionId, string? secret, string? code, CancellationToken cancellationToken = default)
    {
        var login = await FindAsync(sessionId, secret, cancellationToken);
        if (login is null)
        {
            return AppClaim.NotFound;
        }

        if (login.ClaimedAt is not null)
        {
            return AppClaim.AlreadyClaimed;
        }

        var status = await loginSessions.GetStatusAsync(sessionId, cancellationToken);
        if (status != LoginSessionStatus.Verified)
        {
            return status == LoginSessionStatus.AwaitingSecondFactor ? AppClaim.InvalidCode : AppClaim.Expired;
        }

        if (string.IsNullOrEmpty(code) || code.Length > 128)
        {
            return AppClaim.InvalidCode;
        }

        var hash = SecretTokens.Hash(code);
        var now = time.GetUtcNow();
        // The claim and the token commit together: a failure between them leaves the code good for a retry.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var claimed = await db.AppLogins
            .Where(l => l.SessionId == sessionId && l.CodeHash == hash && l.CodeExpiresAt > now && l.ClaimedAt == null)
            .ExecuteUpdateAsync(set => set.SetProperty(l => l.ClaimedAt, now).SetProperty(l => l.CodeHash, (byte[]?)null), cancellationToken);
        if (claimed != 1)
        {
            return (await FindAsync(sessionId, secret, cancellationToken))?.ClaimedAt is null ? AppClaim.InvalidCode : AppClaim.AlreadyClaimed;
        }

        return await CommitIssuedAsync(transaction, await IssueForAsync(sessionId, login.ClientId, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Hands the token over right after the app's own passkey or code verification. The claim and the token commit
    /// together: in a transaction of its own, or, when the caller has one open (the passkey step records the
    /// verification and the token in one), in that one, undoing its own writes to a savepoint when no token can be
    /// issued. Should the database fail after the verification committed, the app's retry of the same call gets the
    /// token (<see cref="CollectIfVerifiedAsync"/>).
    /// </summary>
    /// <param name="clientId">The app's id when the caller already read its login; read here otherwise.</param>
    /// <param name="account">
    /// The login session's account and security stamp when the caller read the session awaiting its second factor and
    /// marked it verified in this transaction (the stamp cannot have changed in between: only a recovery rewrites it,
    /// and that verifies the session itself); read here otherwise.
    /// </param>
    public async Task<AppClaim> ClaimVerifiedAsync(
        string sessionId, string? clientId = null, (string UserId, string? SecurityStamp)? account = null, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        clientId ??= await db.AppLogins.AsNoTracking().Where(l => l.SessionId == sessionId).Select(l => l.ClientId).SingleAsync(cancellationToken);
        var outer = db.Database.CurrentTransaction;
        await using var own = outer is null ? await db.Database.BeginTransactionAsync(cancellationToken) : null;
        if (outer is not null)
        {
            await outer.CreateSavepointAsync(ClaimSavepoint, cancellationToken);
        }

        // Raw SQL: this runs in the write transaction of a verified passkey (see LoginSessionService.MarkVerifiedAsync).
        var claimed = await db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE "AppLogins" SET "ClaimedAt" = {PortalDbContext.StoredInstant(now)}
            WHERE "SessionId" = {sessionId} AND "ClaimedAt" IS NULL AND "Collections" = 0
            """, cancellationToken);
        if (claimed != 1)
        {
            return AppClaim.AlreadyClaimed;
        }

        var token = account is var (userId, securityStamp)
            ? await tokens.IssueAsync(userId, clientId, securityStamp, cancellationToken)
            : await IssueForAsync(sessionId, clientId, cancellationToken);
        if (own is not null)
        {
            return await CommitIssuedAsync(own, token, cancellationToken);
        }

        if (token is null)
        {
            // The account's factors changed during the login: nothing is claimed.
            await outer!.RollbackToSavepointAsync(ClaimSavepoint, cancellationToken);
        }

        return AppClaim.From(token);
    }

    private const string ClaimSavepoint = "app_claim";

    /// <summary>
    /// For an app calling verify again on a login that is already verified (its earlier call's answer was lost to a
    /// failure after the verification committed): the token, as polling would give it; null while the login is not
    /// verified, so the call verifies as usual.
    /// </summary>
    public async Task<AppClaim?> CollectIfVerifiedAsync(string sessionId, string? secret, CancellationToken cancellationToken = default) =>
        await loginSessions.GetStatusAsync(sessionId, cancellationToken) == LoginSessionStatus.Verified
            ? await CollectAsync(sessionId, secret, cancellationToken)
            : null;

    private static async Task<AppClaim> CommitIssuedAsync(
        Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction transaction, IssuedToken? token, CancellationToken cancellationToken)
    {
        if (token is null)
        {
            // The account's factors changed during the login: nothing is claimed.
            return AppClaim.From(null);
        }

        await transaction.CommitAsync(cancellationToken);
        return AppClaim.From(token);
    }

    /// <summary>
    /// "Check status" for apps that cannot receive a redirect: pending until verified, then the token
    /// at most <see cref="AppsOptions.MaxCollections"/> times within <see cref="AppsOptions.CollectWindow"/>.
    /// </summary>
    public async Task<AppClaim> CollectAsync(string sessionId, string? secret, CancellationToken cancellationToken = default)
    {
        if (await FindAsync(sessionId, secret, cancellationToken) is null)
        {
            return AppClaim.NotFound;
        }

        var session = await db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == sessionId, cancellationToken);
        var status = await loginSessions.GetStatusAsync(sessionId, cancellationToken);
        if (status == LoginSessionStatus.AwaitingSecondFactor)
        {
            return AppClaim.Pending(session.ExpiresAt);
        }

        if (status == LoginSessionStatus.Refused)
        {
            return AppClaim.Refused;
        }

        var now = time.GetUtcNow();
        if (session.VerifiedAt is not { } verifiedAt || now > verifiedAt + options.Value.CollectWindow)
        {
            return AppClaim.Expired;
        }

        // Serialised by the row's lock: two polls at once, on any nodes, must both see the single token.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.LockAppLoginAsync(sessionId, cancellationToken);
        var login = await db.AppLogins.SingleAsync(l => l.SessionId == sessionId, cancellationToken);
        IssuedToken token;
        if (login is { ClaimedAt: null, Collections: 0 })
        {
            if (await tokens.IssueAsync(session.UserId, login.ClientId, session.SecurityStamp, cancellationToken) is not { } issued)
            {
                return AppClaim.Expired;
            }

            token = issued;
            login.ClaimedAt = now;
            login.ProtectedToken = tokenProtector.Protect(token.Token);
            login.TokenExpiresAt = token.ExpiresAt;
        }
        else if (login is { Collections: > 0, ProtectedToken: not null, TokenExpiresAt: { } expiresAt } && login.Collections < options.Value.MaxCollections)
        {
            token = new IssuedToken(tokenProtector.Unprotect(login.ProtectedToken), expiresAt);
        }
        else
        {
            return AppClaim.AlreadyClaimed;
        }

        login.Collections++;
        if (login.Collections >= options.Value.MaxCollections)
        {
            login.ProtectedToken = null;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return AppClaim.Success(token);
    }

    private async Task<IssuedToken?> IssueForAsync(string sessionId, string clientId, CancellationToken cancellationToken)
    {
        var session = await db.LoginSessions.Where(s => s.Id == sessionId).Select(s => new { s.UserId, s.SecurityStamp }).SingleAsync(cancellationToken);
        return await tokens.IssueAsync(session.UserId, clientId, session.SecurityStamp, cancellationToken);
    }
}

public sealed record StartedAppLogin(string SessionId, string Secret, string SecondFactor, string VerifyPath, DateTimeOffset ExpiresAt, int ApprovalNumber);

public enum AppClaimOutcome
{
    Token,
    Pending,
    NotFound,
    InvalidCode,
    AlreadyClaimed,
    Expired,

    /// <summary>A device asked to approve the login refused it.</summary>
    Refused,
}

public sealed record AppClaim(AppClaimOutcome Outcome, IssuedToken? Token, DateTimeOffset? ExpiresAt)
{
    public static readonly AppClaim NotFound = new(AppClaimOutcome.NotFound, null, null);
    public static readonly AppClaim InvalidCode = new(AppClaimOutcome.InvalidCode, null, null);
    public static readonly AppClaim AlreadyClaimed = new(AppClaimOutcome.AlreadyClaimed, null, null);
    public static readonly AppClaim Expired = new(AppClaimOutcome.Expired, null, null);
    public static readonly AppClaim Refused = new(AppClaimOutcome.Refused, null, null);

    public static AppClaim Success(IssuedToken token) => new(AppClaimOutcome.Token, token, token.ExpiresAt);

    /// <summary>The token, or <see cref="Expired"/> when the account's factors changed during the login.</summary>
    public static AppClaim From(IssuedToken? token) => token is null ? Expired : Success(token);

    public static AppClaim Pending(DateTimeOffset expiresAt) => new(AppClaimOutcome.Pending, null, expiresAt);
}

/// <summary>An app login and its login session, when live (<see cref="AppLogins.FindWithLiveSessionAsync"/>).</summary>
public sealed record AppLoginWithSession(AppLogin Login, LoginSession? Session);
