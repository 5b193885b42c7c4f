using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// "Recover two-factor": the recovery key stands in for the second factor of a login whose password
/// step passed. The key is used up and replaced by a new one in the same transaction that verifies
/// the login, so of two simultaneous submissions exactly one succeeds.
/// </summary>
public sealed class TwoFactorRecovery(
    PortalDbContext db,
    LoginSessionService loginSessions,
    RecoveryKeyService recoveryKeys,
    SecondFactorLockout lockout,
    Activity.SecurityEvents events,
    ILogger<TwoFactorRecovery> logger)
{
    public async Task<RecoveryResult> RecoverAsync(string? sessionId, string? browserSecret, string? input, CancellationToken cancellationToken = default)
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

        // A portal login finishes in the browser that started it; an app's login finishes in the app,
        // which alone knows the session secret, so any browser may recover it.
        if (session.ClientId is null && !await loginSessions.IsStartedByAsync(session.Id, browserSecret, cancellationToken))
        {
            return RecoveryResult.Fail(TwoFactorMessages.OtherBrowser);
        }

        if (await lockout.RemainingAsync(session.UserId, cancellationToken) is { } remaining)
        {
            return RecoveryResult.Fail(TwoFactorMessages.LockedOut(remaining));
        }

        var parsed = RecoveryKeyCodec.Parse(input);
        if (!parsed.Succeeded)
        {
            return RecoveryResult.Fail(parsed.Error!);
        }

        if (!await recoveryKeys.MatchesAsync(session.UserId, parsed.Key, cancellationToken))
        {
            await lockout.RecordFailureAsync(session.UserId, cancellationToken);
            logger.LogInformation("Wrong recovery key for {UserId}", session.UserId);
            return await lockout.RemainingAsync(session.UserId, cancellationToken) is { } locked
                ? RecoveryResult.Fail(TwoFactorMessages.LockedOut(locked))
                : RecoveryResult.Fail(TwoFactorMessages.IncorrectRecoveryKey);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var newWords = await recoveryKeys.ReplaceAsync(session.UserId, parsed.Key!, cancellationToken);
        if (newWords is null || !await loginSessions.MarkVerifiedAsync(session.Id, cancellationToken))
        {
            // Another submission used this key (or finished this login) a moment ago.
            return RecoveryResult.Fail(TwoFactorMessages.IncorrectRecoveryKey);
        }

        await transaction.CommitAsync(cancellationToken);
        await lockout.ResetAsync(session.UserId, cancellationToken);
        await events.RecordAsync(session.UserId, Activity.SecurityEventKind.RecoveryKeyUsed, cancellationToken: cancellationToken);
        logger.LogInformation("Recovery key used to verify a login for {UserId}; a new key was issued", session.UserId);
        return new RecoveryResult(session.UserId, newWords, session.SecondFactor, null, session.ClientId);
    }
}

public sealed record RecoveryResult(string? UserId, IReadOnlyList<string>? NewRecoveryKey, string? SecondFactor, string? Error, string? ClientId = null)
{
    public static readonly RecoveryResult SessionGone = Fail(TwoFactorMessages.LoginSessionExpired);

    public bool Succeeded => UserId is not null;

    public static RecoveryResult Fail(string error) => new(null, null, null, error);
}
