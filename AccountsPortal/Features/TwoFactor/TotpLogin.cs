using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>The code step of a login for accounts whose second factor is an authenticator app.</summary>
public sealed class TotpLogin(
    TotpCodeCheck codes,
    LoginSessionService loginSessions,
    SecondFactorDirectory secondFactors,
    Accounts.Attempts.AttemptRateLimiter rateLimiter,
    ILogger<TotpLogin> logger)
{
    /// <summary>Verifies a code for a login session, only for a holder of <paramref name="proof"/>.</summary>
    /// <param name="proof">
    /// A browser login takes codes only from the browser that holds its pending-login cookie; an app login
    /// from the app (its session secret) or from a verify page whose device picked the approval number.
    /// </param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<SecondFactorResult> VerifyAsync(
        string? sessionId, string? code, LoginProof proof, System.Net.IPAddress? clientIp = null, CancellationToken cancellationToken = default)
    {
        var session = await loginSessions.FindLiveAsync(sessionId, cancellationToken);
        if (session is not { State: LoginSessionState.AwaitingSecondFactor })
        {
            return SecondFactorResult.SessionGone;
        }

        if (rateLimiter.TryAcquireForAccount(clientIp, session.UserId) is { } wait)
        {
            return new SecondFactorResult(false, Accounts.Attempts.AttemptMessages.RateLimited, SecondFactorFailure.RateLimited, wait);
        }

        var approvalAllowed = session.ClientId is not null;
        if (!await loginSessions.IsHeldByAsync(session.Id, proof, approvalAllowed, cancellationToken))
        {
            return SecondFactorResult.Fail(approvalAllowed ? TwoFactorMessages.ApprovalNeeded : TwoFactorMessages.OtherBrowserCode, SecondFactorFailure.NotThisDevice);
        }

        // Passkeys take precedence: whatever is posted, an account with a passkey never logs in with a code.
        var required = await secondFactors.RequiredForAsync(session.UserId, cancellationToken);
        if (session.SecondFactor != TotpSecondFactor.FactorName || required?.Name != TotpSecondFactor.FactorName)
        {
            return SecondFactorResult.Fail(TwoFactorMessages.PasskeyRequired, SecondFactorFailure.PasskeyRequired);
        }

        var checkedCode = await codes.CheckAsync(session.UserId, code, cancellationToken);
        if (!checkedCode.Succeeded)
        {
            return checkedCode;
        }

        if (!await loginSessions.MarkVerifiedAsync(session.Id, proof, approvalAllowed, cancellationToken: cancellationToken))
        {
            return SecondFactorResult.SessionGone;
        }

        Activity.SecurityLog.TotpVerified(logger, session.UserId);
        return SecondFactorResult.Verified;
    }
}

public enum SecondFactorFailure
{
    None,
    WrongCode,
    PasskeyRequired,
    LockedOut,
    SessionGone,
    RateLimited,

    /// <summary>The code came from a device that may not verify this login (see <see cref="TotpLogin.VerifyAsync"/>).</summary>
    NotThisDevice,
}

public sealed record SecondFactorResult(bool Succeeded, string? Error, SecondFactorFailure Failure, TimeSpan? RetryAfter = null)
{
    public static readonly SecondFactorResult Verified = new(true, null, SecondFactorFailure.None);
    public static readonly SecondFactorResult SessionGone = new(false, TwoFactorMessages.LoginSessionExpired, SecondFactorFailure.SessionGone);

    public bool SessionClosed => Failure == SecondFactorFailure.SessionGone;

    public static SecondFactorResult Fail(string error, SecondFactorFailure failure = SecondFactorFailure.WrongCode) => new(false, error, failure);

    public static SecondFactorResult Locked(TimeSpan remaining) =>
        new(false, TwoFactorMessages.LockedOut(remaining), SecondFactorFailure.LockedOut, remaining);
}
