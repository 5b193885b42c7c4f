using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// The code step of a login for accounts whose second factor is an authenticator app. A wrong or used code
/// counts twice: toward the account's lockout (<see cref="SecondFactorLockout"/>) and, like a refused passkey,
/// toward the login session's own limit, which closes the session when reached.
/// </summary>
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

        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, session.UserId, cancellationToken) is { } wait)
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
            if (!checkedCode.WasWrongGuess)
            {
                // A malformed code, or one the account's lockout refused unread: not an attempt on this login.
                return checkedCode;
            }

            // A code checked and found wrong (or used) is a failed attempt on this login, counted by one conditional UPDATE.
            return await loginSessions.RecordFailedAttemptAsync(session.Id, cancellationToken) switch
            {
                > 0 => checkedCode,
                <= 0 => SecondFactorResult.AttemptsExhausted(checkedCode.RetryAfter),
                null => SecondFactorResult.SessionGone,
            };
        }

        if (!await loginSessions.MarkVerifiedAsync(session.Id, proof, approvalAllowed, AuthenticationMethods.PasswordAndCode, cancellationToken: cancellationToken))
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

    /// <summary>This wrong code reached the login session's limit of failed attempts: the session is closed.</summary>
    TooManyAttempts,
}

/// <summary>The outcome of a code (or of the login's code step).</summary>
/// <param name="RetryAfter">How long the account refuses codes, when it does.</param>
public sealed record SecondFactorResult(bool Succeeded, string? Error, SecondFactorFailure Failure, TimeSpan? RetryAfter = null)
{
    public static readonly SecondFactorResult Verified = new(true, null, SecondFactorFailure.None);
    public static readonly SecondFactorResult SessionGone = new(false, TwoFactorMessages.LoginSessionExpired, SecondFactorFailure.SessionGone);

    /// <summary>Whether the login session can no longer be verified: it is gone, or this attempt used up its last try.</summary>
    public bool SessionClosed => Failure is SecondFactorFailure.SessionGone or SecondFactorFailure.TooManyAttempts;

    /// <summary>
    /// Whether a well-formed code was checked against the secret and refused (wrong or already used): a failed
    /// attempt that counts toward the lockout, including the one that locks it.
    /// </summary>
    public bool WasWrongGuess { get; init; }

    public static SecondFactorResult Fail(string error, SecondFactorFailure failure = SecondFactorFailure.WrongCode) => new(false, error, failure);

    public static SecondFactorResult Locked(TimeSpan remaining) =>
        new(false, TwoFactorMessages.LockedOut(remaining), SecondFactorFailure.LockedOut, remaining);

    /// <summary>The wrong code that closed the login session; <paramref name="lockedFor"/> when it also locked the account.</summary>
    public static SecondFactorResult AttemptsExhausted(TimeSpan? lockedFor) =>
        new(false, TwoFactorMessages.TooManyAttempts, SecondFactorFailure.TooManyAttempts, lockedFor);
}
