using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The passkey step of a login: who may ask for it (the login's browser, app, or approved device), rate
/// limits and the session's attempt count; the assertion itself is <see cref="PasskeyAssertions"/>'s.
/// The answer is checked first (reads and the signature, no lock held); then one transaction takes the rate-limit
/// permit, uses the ceremony up, and either records the use and marks the login session verified or counts the
/// failed attempt: one commit per answer.
/// </summary>
public sealed class PasskeyLogin(
    PortalDbContext db,
    PasskeyAssertions assertions,
    LoginSessionService loginSessions,
    Accounts.Attempts.AttemptRateLimiter rateLimiter)
{
    /// <summary>Assertion options for the login session, for a holder of <paramref name="proof"/> only.</summary>
    /// <param name="proof">The browser that started the login, the app (its session secret), or a device that picked the approval number.</param>
    public async Task<CeremonyStart> BeginAsync(string? loginSessionId, LoginProof proof, CancellationToken cancellationToken = default) =>
        await BeginAsync(await loginSessions.FindLiveAsync(loginSessionId, cancellationToken), proof, cancellationToken);

    /// <summary>As <see cref="BeginAsync(string?, LoginProof, CancellationToken)"/>, for a live login session its caller has just read.</summary>
    /// <param name="liveSession">The login session as <see cref="LoginSessionService.FindLiveAsync"/> finds it (null when not live).</param>
    internal async Task<CeremonyStart> BeginAsync(LoginSession? liveSession, LoginProof proof, CancellationToken cancellationToken = default)
    {
        var session = AwaitingPasskey(liveSession);
        if (session is null)
        {
            return CeremonyStart.Fail(PasskeyMessages.LoginSessionExpired);
        }

        if (!proof.Holds(session, approvalAllowed: true))
        {
            return CeremonyStart.Fail(PasskeyMessages.ApprovalNeeded);
        }

        return await assertions.BeginAsync(session.UserId, CeremonyPurpose.Login, session.Id, cancellationToken);
    }

    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for apps, whose answer is matched by its challenge.</param>
    /// <param name="proof">As for <see cref="BeginAsync"/>: checked again in the statement that marks the session verified.</param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    /// <param name="whenVerified">
    /// More work for a verified login, in the same transaction (an app's token), given the login session as read
    /// before the transaction (awaiting its passkey); it undoes its own writes to a savepoint when it cannot complete,
    /// and the verification commits regardless.
    /// </param>
    public async Task<PasskeyLoginResult> CompleteAsync(
        string? loginSessionId, string? ceremonyId, string? credentialJson, LoginProof proof, System.Net.IPAddress? clientIp = null,
        CancellationToken cancellationToken = default, Func<LoginSession, CancellationToken, Task>? whenVerified = null) =>
        await CompleteAsync(
            await loginSessions.FindLiveAsync(loginSessionId, cancellationToken), ceremonyId, credentialJson, proof, clientIp, cancellationToken, whenVerified);

    /// <summary>
    /// As <see cref="CompleteAsync(string?, string?, string?, LoginProof, System.Net.IPAddress?, CancellationToken, Func{LoginSession, CancellationToken, Task}?)"/>,
    /// for a live login session its caller has just read (null when not live); everything it decides is checked again
    /// in the transaction that records the answer, as there.
    /// </summary>
    internal async Task<PasskeyLoginResult> CompleteAsync(
        LoginSession? liveSession, string? ceremonyId, string? credentialJson, LoginProof proof, System.Net.IPAddress? clientIp = null,
        CancellationToken cancellationToken = default, Func<LoginSession, CancellationToken, Task>? whenVerified = null)
    {
        var session = AwaitingPasskey(liveSession);
        if (session is null)
        {
            return PasskeyLoginResult.SessionGone;
        }

        if (!proof.Holds(session, approvalAllowed: true))
        {
            // Not the login's browser, app or approved device: still an attempt on the account.
            return await rateLimiter.TryAcquireForAccountAsync(clientIp, session.UserId, cancellationToken) is { } refused
                ? PasskeyLoginResult.Limited(refused)
                : PasskeyLoginResult.Fail(PasskeyMessages.ApprovalNeeded);
        }

        var check = await assertions.CheckAsync(session.UserId, CeremonyPurpose.Login, session.Id, ceremonyId, credentialJson, cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (whenVerified is not null)
        {
            // An app's token is issued below, with its stamp check sharing the account's row. Shared first, before the
            // session's row, in the order a recovery takes them (the account's row, then the session's): taken later, the
            // two deadlocked (found by an outside review).
            await db.ShareAccountAsync(session.UserId, cancellationToken);
        }

        // The permit is taken before anything is recorded: over the limit, the answer is refused unrecorded (whatever
        // its check found) and nothing changes.
        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, session.UserId, cancellationToken) is { } wait)
        {
            await transaction.RollbackAsync(cancellationToken);
            return PasskeyLoginResult.Limited(wait);
        }

        var failure = await assertions.RecordAsync(
            check, transaction,
            token => loginSessions.MarkVerifiedAsync(
                session.Id, proof, approvalAllowed: true, AuthenticationMethods.PasswordAndPasskey(check.Passkey!.IsBackupEligible), cancellationToken: token),
            cancellationToken);
        if (failure is null)
        {
            if (whenVerified is not null)
            {
                await whenVerified(session, cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return PasskeyLoginResult.Verified;
        }

        var left = await loginSessions.RecordFailedAttemptAsync(session.Id, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        var failed = left switch
        {
            > 0 => PasskeyLoginResult.Fail(failure),
            <= 0 => PasskeyLoginResult.Fail(PasskeyMessages.TooManyAttempts, sessionClosed: true),
            // Verified (or ended) by another request meanwhile: the page or app asks where it stands.
            null => PasskeyLoginResult.SessionGone,
        };
        return failed with { UnknownCredentialId = check.UnknownCredentialId };
    }

    private static LoginSession? AwaitingPasskey(LoginSession? session) =>
        session is { State: LoginSessionState.AwaitingSecondFactor, SecondFactor: PasskeySecondFactor.FactorName } ? session : null;
}

public sealed record PasskeyLoginResult(bool Succeeded, string? Error, bool SessionClosed, TimeSpan? RetryAfter = null)
{
    /// <summary>
    /// The credential id (base64url) of a refused answer whose passkey the account had once and has no longer
    /// (<see cref="AssertionCheck.UnknownCredentialId"/>), for the page to tell the browser (WebAuthn L3 §5.1.10.1
    /// <c>signalUnknownCredential</c>); it came from that browser, so it tells nobody anything new. Null otherwise.
    /// </summary>
    public string? UnknownCredentialId { get; init; }

    public bool IsRateLimited => RetryAfter is not null;

    public static PasskeyLoginResult Limited(TimeSpan wait) => new(false, Accounts.Attempts.AttemptMessages.RateLimited, false, wait);

    public static readonly PasskeyLoginResult Verified = new(true, null, false);
    public static readonly PasskeyLoginResult SessionGone = new(false, PasskeyMessages.LoginSessionExpired, true);

    public static PasskeyLoginResult Fail(string error, bool sessionClosed = false) => new(false, error, sessionClosed);
}
