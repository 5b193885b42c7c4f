using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// "Recover two-factor": the recovery key stands in for the second factor of a login whose password
/// step passed. The key is used up and replaced by a new one in the same transaction that verifies
/// the login, so of two simultaneous submissions exactly one succeeds. A wrong key counts toward the
/// account's lockout and toward the login session's limit of failed attempts.
/// </summary>
public sealed class TwoFactorRecovery(
    PortalDbContext db,
    LoginSessionService loginSessions,
    RecoveryKeyService recoveryKeys,
    SecondFactorLockout lockout,
    Accounts.AccountSecurity accountSecurity,
    Accounts.Attempts.AttemptRateLimiter rateLimiter,
    Activity.SecurityEvents events,
    ILogger<TwoFactorRecovery> logger)
{
    /// <summary>Uses the recovery key for a login session, only for a holder of <paramref name="proof"/>.</summary>
    /// <param name="proof">
    /// A browser login recovers only in the browser that holds its pending-login cookie; an app login in a
    /// browser whose device picked the approval number (the app's own secret also holds it).
    /// </param>
    /// <param name="input">24 words or 64 hex digits; more than <see cref="RecoveryKeyCodec.MaxInputLength"/> characters are refused unread.</param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<RecoveryResult> RecoverAsync(
        string? sessionId, LoginProof proof, string? input, System.Net.IPAddress? clientIp = null, CancellationToken cancellationToken = default)
    {
        if (input is { Length: > RecoveryKeyCodec.MaxInputLength })
        {
            return RecoveryResult.Fail("That is too long to be a recovery key.");
        }

        var session = await loginSessions.FindLiveAsync(sessionId, cancellationToken);
        if (session is not { State: LoginSessionState.AwaitingSecondFactor })
        {
            return RecoveryResult.SessionGone;
        }

        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, session.UserId, cancellationToken) is { } wait)
        {
            return RecoveryResult.Fail(Accounts.Attempts.AttemptMessages.RateLimited);
        }

        // A portal login finishes in the browser that started it; an app's login in the app (after a
        // browser whose device picked the approval number verified it).
        var approvalAllowed = session.ClientId is not null;
        if (!await loginSessions.IsHeldByAsync(session.Id, proof, approvalAllowed, cancellationToken))
        {
            return RecoveryResult.Fail(approvalAllowed ? TwoFactorMessages.ApprovalNeeded : TwoFactorMessages.OtherBrowser);
        }

        var parsed = RecoveryKeyCodec.Parse(input);
        if (!parsed.Succeeded)
        {
            return RecoveryResult.Fail(parsed.Error!);
        }

        // Reserved before the key is checked: parallel guesses past the limit are never evaluated.
        if (await lockout.TryReserveAsync(session.UserId, cancellationToken) is { } remaining)
        {
            return RecoveryResult.Fail(TwoFactorMessages.LockedOut(remaining));
        }

        if (!await recoveryKeys.MatchesAsync(session.UserId, parsed.Key, cancellationToken))
        {
            Activity.SecurityLog.RecoveryKeyWrong(logger, session.UserId);
            var locked = await lockout.RecordFailureAsync(session.UserId, cancellationToken);
            // A failed attempt on this login too, counted by one conditional UPDATE like a refused passkey:
            // the attempt that reaches the session's limit closes it.
            return await loginSessions.RecordFailedAttemptAsync(session.Id, cancellationToken) switch
            {
                > 0 => RecoveryResult.Fail(locked is { } lockedFor ? TwoFactorMessages.LockedOut(lockedFor) : TwoFactorMessages.IncorrectRecoveryKey),
                <= 0 => RecoveryResult.Closed(TwoFactorMessages.TooManyAttempts),
                // Verified (with this key, by another submission) or ended meanwhile.
                null => RecoveryResult.SessionGone,
            };
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var newWords = await recoveryKeys.ReplaceAsync(session.UserId, parsed.Key!, cancellationToken);
        // Using the recovery key ends every other session and app token; this login completes with the new stamp.
        var newStamp = newWords is null ? null : await accountSecurity.RotateAsync(session.UserId, null, "recovery key used", cancellationToken);
        if (newWords is null || !await loginSessions.MarkVerifiedAsync(session.Id, proof, approvalAllowed, AuthenticationMethods.PasswordAndCode, newStamp, cancellationToken))
        {
            // Another submission used this key (or finished this login) a moment ago. The key was right: its attempt
            // is given back, outside the transaction that is undone (inside it, the release would be undone too).
            await transaction.RollbackAsync(cancellationToken);
            await lockout.ReleaseAsync(session.UserId, cancellationToken);
            return RecoveryResult.Fail(TwoFactorMessages.IncorrectRecoveryKey);
        }

        // Everything this use writes commits together, and nothing that can fail comes after: once the new key is
        // stored, the words are returned to be shown.
        await lockout.ReleaseAsync(session.UserId, cancellationToken);
        await events.RecordAsync(session.UserId, Activity.SecurityEventKind.RecoveryKeyUsed, cancellationToken: cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.RecoveryKeyUsed(logger, session.UserId);
        return new RecoveryResult(session.UserId, newWords, session.SecondFactor, null, session.ClientId);
    }
}

/// <summary>The outcome of a recovery key for a login.</summary>
public sealed record RecoveryResult(string? UserId, IReadOnlyList<string>? NewRecoveryKey, string? SecondFactor, string? Error, string? ClientId = null)
{
    public static readonly RecoveryResult SessionGone = Closed(TwoFactorMessages.LoginSessionExpired);

    public bool Succeeded => UserId is not null;

    /// <summary>Whether the login session can no longer be verified: it is gone, or this attempt used up its last try.</summary>
    public bool SessionClosed { get; init; }

    public static RecoveryResult Fail(string error) => new(null, null, null, error);

    /// <summary>A refusal after which the person must log in again.</summary>
    public static RecoveryResult Closed(string error) => Fail(error) with { SessionClosed = true };
}
