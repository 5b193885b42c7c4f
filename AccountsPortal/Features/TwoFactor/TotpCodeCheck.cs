using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// Checks an authenticator-app code for an account, as the login's code step and "Confirm it's you" both
/// need it: the attempt is reserved against the per-account lockout before the code is looked at, and a
/// matching time step is used up by one conditional UPDATE (RFC 6238 §5.2: each code is accepted once,
/// whichever login, confirmation or node asks).
/// </summary>
public sealed class TotpCodeCheck(PortalDbContext db, TotpSecrets secrets, SecondFactorLockout lockout, TimeProvider time)
{
    /// <returns><see cref="SecondFactorResult.Verified"/>, or a wrong, used, malformed or locked-out failure.</returns>
    public async Task<SecondFactorResult> CheckAsync(string userId, string? code, CancellationToken cancellationToken = default)
    {
        var normalized = TotpCode.Normalize(code);
        if (normalized is null)
        {
            return SecondFactorResult.Fail(TwoFactorMessages.CodeFormat);
        }

        // Reserved before the code is checked: parallel guesses past the limit are never evaluated.
        if (await lockout.TryReserveAsync(userId, cancellationToken) is { } remaining)
        {
            return SecondFactorResult.Locked(remaining);
        }

        var protectedSecret = await db.TotpAuthenticators.AsNoTracking()
            .Where(t => t.UserId == userId).Select(t => t.ProtectedSecret).SingleOrDefaultAsync(cancellationToken);
        var step = protectedSecret is null ? null : TotpSecrets.MatchingStep(secrets.Unprotect(protectedSecret), normalized, time.GetUtcNow());
        if (step is null)
        {
            return await FailAsync(userId, TwoFactorMessages.WrongCode, cancellationToken);
        }

        var advanced = await db.TotpAuthenticators
            .Where(t => t.UserId == userId && t.LastAcceptedStep < step)
            .ExecuteUpdateAsync(set => set.SetProperty(t => t.LastAcceptedStep, step.Value), cancellationToken);
        if (advanced != 1)
        {
            return await FailAsync(userId, TwoFactorMessages.UsedCode, cancellationToken);
        }

        await lockout.ReleaseAsync(userId, cancellationToken);
        return SecondFactorResult.Verified;
    }

    /// <summary>Counts a wrong guess; the result says so (<see cref="SecondFactorResult.WasWrongGuess"/>), also when it locked the account.</summary>
    private async Task<SecondFactorResult> FailAsync(string userId, string message, CancellationToken cancellationToken)
    {
        var result = await lockout.RecordFailureAsync(userId, cancellationToken) is { } remaining
            ? SecondFactorResult.Locked(remaining)
            : SecondFactorResult.Fail(message);
        return result with { WasWrongGuess = true };
    }
}
