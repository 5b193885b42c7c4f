using AccountsPortal.Features.Accounts.LoginSessions;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The passkey step of a login: who may ask for it (the login's browser, app, or approved device), rate
/// limits and the session's attempt count; the assertion itself is <see cref="PasskeyAssertions"/>'s.
/// A verified assertion marks the login session verified, in the transaction that records the use.
/// </summary>
public sealed class PasskeyLogin(
    PasskeyAssertions assertions,
    LoginSessionService loginSessions,
    Accounts.Attempts.AttemptRateLimiter rateLimiter)
{
    /// <summary>Assertion options for the login session, for a holder of <paramref name="proof"/> only.</summary>
    /// <param name="proof">The browser that started the login, the app (its session secret), or a device that picked the approval number.</param>
    public async Task<CeremonyStart> BeginAsync(string? loginSessionId, LoginProof proof, CancellationToken cancellationToken = default)
    {
        var session = await AwaitingPasskeyAsync(loginSessionId, cancellationToken);
        if (session is null)
        {
            return CeremonyStart.Fail(PasskeyMessages.LoginSessionExpired);
        }

        if (!await loginSessions.IsHeldByAsync(session.Id, proof, approvalAllowed: true, cancellationToken))
        {
            return CeremonyStart.Fail(PasskeyMessages.ApprovalNeeded);
        }

        return await assertions.BeginAsync(session.UserId, CeremonyPurpose.Login, session.Id, cancellationToken);
    }

    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for apps, whose answer is matched by its challenge.</param>
    /// <param name="proof">As for <see cref="BeginAsync"/>: checked again in the statement that marks the session verified.</param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<PasskeyLoginResult> CompleteAsync(
        string? loginSessionId, string? ceremonyId, string? credentialJson, LoginProof proof, System.Net.IPAddress? clientIp = null,
        CancellationToken cancellationToken = default)
    {
        var session = await AwaitingPasskeyAsync(loginSessionId, cancellationToken);
        if (session is null)
        {
            return PasskeyLoginResult.SessionGone;
        }

        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, session.UserId, cancellationToken) is { } wait)
        {
            return PasskeyLoginResult.Limited(wait);
        }

        if (!await loginSessions.IsHeldByAsync(session.Id, proof, approvalAllowed: true, cancellationToken))
        {
            return PasskeyLoginResult.Fail(PasskeyMessages.ApprovalNeeded);
        }

        var failure = await VerifyAsync(session, ceremonyId, credentialJson, proof, cancellationToken);
        if (failure is null)
        {
            return PasskeyLoginResult.Verified;
        }

        return await loginSessions.RecordFailedAttemptAsync(session.Id, cancellationToken) switch
        {
            > 0 => PasskeyLoginResult.Fail(failure),
            <= 0 => PasskeyLoginResult.Fail(PasskeyMessages.TooManyAttempts, sessionClosed: true),
            // Verified (or ended) by another request meanwhile: the page or app asks where it stands.
            null => PasskeyLoginResult.SessionGone,
        };
    }

    private async Task<LoginSession?> AwaitingPasskeyAsync(string? loginSessionId, CancellationToken cancellationToken)
    {
        var session = await loginSessions.FindLiveAsync(loginSessionId, cancellationToken);
        return session is { State: LoginSessionState.AwaitingSecondFactor, SecondFactor: PasskeySecondFactor.FactorName } ? session : null;
    }

    /// <summary>Null when every check passed and the session is verified; otherwise the reason.</summary>
    private Task<string?> VerifyAsync(LoginSession session, string? ceremonyId, string? credentialJson, LoginProof proof, CancellationToken cancellationToken) =>
        assertions.VerifyAsync(
            session.UserId, CeremonyPurpose.Login, session.Id, ceremonyId, credentialJson,
            token => loginSessions.MarkVerifiedAsync(session.Id, proof, approvalAllowed: true, cancellationToken: token), cancellationToken);
}

public sealed record PasskeyLoginResult(bool Succeeded, string? Error, bool SessionClosed, TimeSpan? RetryAfter = null)
{
    public bool IsRateLimited => RetryAfter is not null;

    public static PasskeyLoginResult Limited(TimeSpan wait) => new(false, Accounts.Attempts.AttemptMessages.RateLimited, false, wait);

    public static readonly PasskeyLoginResult Verified = new(true, null, false);
    public static readonly PasskeyLoginResult SessionGone = new(false, PasskeyMessages.LoginSessionExpired, true);

    public static PasskeyLoginResult Fail(string error, bool sessionClosed = false) => new(false, error, sessionClosed);
}
