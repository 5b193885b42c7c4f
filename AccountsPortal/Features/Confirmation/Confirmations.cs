using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;

namespace AccountsPortal.Features.Confirmation;

/// <summary>What "Confirm it's you" asks for: the account's strongest factor.</summary>
public enum ConfirmationFactor
{
    /// <summary>A passkey assertion (the account has at least one passkey).</summary>
    Passkey,

    /// <summary>A code from the authenticator app (no passkey, TOTP on).</summary>
    AuthenticatorApp,

    /// <summary>The password (no second factor).</summary>
    Password,
}

/// <param name="NewRecoveryKey">After a confirmation with the recovery key: its replacement, to show once.</param>
public sealed record ConfirmationResult(bool Succeeded, string? Error, IReadOnlyList<string>? NewRecoveryKey = null)
{
    public static readonly ConfirmationResult Confirmed = new(true, null);

    public static ConfirmationResult Fail(string error) => new(false, error);
}

/// <summary>
/// "Confirm it's you": a signed-in browser proves again, with the account's strongest factor, that its
/// owner is at the keyboard, before a security change (OWASP ASVS 5.0 V6.x re-authentication, NIST SP
/// 800-63B-4 §2.2 reauthentication). A success stamps the browser session's row
/// (<see cref="RecentConfirmation"/>). Each factor is checked as at login: a passkey ceremony bound to
/// this browser session, a code whose time step is then used up, a password counted toward the login
/// lockout; codes and recovery keys count toward the second-factor lockout; everything is rate limited
/// per account (and per IP when the caller's address is known: form posts, not circuits) and recorded in the owner's activity.
/// </summary>
public sealed class Confirmations(
    PortalDbContext db,
    SecondFactorDirectory factors,
    RecentConfirmation recent,
    PasskeyAssertions passkeys,
    TotpCodeCheck codes,
    PasswordSignIn passwords,
    RecoveryKeyService recoveryKeys,
    SecondFactorLockout lockout,
    AccountSecurity accountSecurity,
    AttemptRateLimiter rateLimiter,
    SecurityEvents events,
    ILogger<Confirmations> logger)
{
    public const string WrongFactor = "This account confirms with another factor. Reload the page and try again.";
    public const string WrongPassword = "That password is not right.";
    public const string SessionEnded = "This browser is no longer signed in. Sign in again.";

    /// <summary>The factor the account confirms with: passkey, else authenticator app, else password.</summary>
    public async Task<ConfirmationFactor> FactorAsync(string userId, CancellationToken cancellationToken = default) =>
        (await factors.RequiredForAsync(userId, cancellationToken))?.Name switch
        {
            PasskeySecondFactor.FactorName => ConfirmationFactor.Passkey,
            TotpSecondFactor.FactorName => ConfirmationFactor.AuthenticatorApp,
            _ => ConfirmationFactor.Password,
        };

    /// <summary>Whether this browser confirmed (or signed in) within the reauthentication window.</summary>
    public Task<bool> IsFreshAsync(string userId, string? browserSessionId, CancellationToken cancellationToken = default) =>
        recent.IsFreshAsync(userId, browserSessionId, cancellationToken);

    /// <summary>Passkey options for a confirmation, bound to this browser session; fails when the account confirms otherwise.</summary>
    public async Task<CeremonyStart> BeginPasskeyAsync(string userId, string browserSessionId, CancellationToken cancellationToken = default) =>
        await FactorAsync(userId, cancellationToken) == ConfirmationFactor.Passkey
            ? await passkeys.BeginAsync(userId, CeremonyPurpose.Confirmation, browserSessionId, cancellationToken)
            : CeremonyStart.Fail(WrongFactor);

    /// <summary>Confirms with the answer to <see cref="BeginPasskeyAsync"/>'s options (WebAuthn L3 §7.2, every check of the login's passkey step).</summary>
    public Task<ConfirmationResult> WithPasskeyAsync(
        string userId, string browserSessionId, string? ceremonyId, string? credentialJson, IPAddress? clientIp, CancellationToken cancellationToken = default) =>
        ConfirmAsync(userId, clientIp, ConfirmationFactor.Passkey, "with a passkey", async () =>
        {
            var failure = await passkeys.VerifyAsync(
                userId, CeremonyPurpose.Confirmation, browserSessionId, ceremonyId, credentialJson,
                token => recent.MarkAsync(userId, browserSessionId, token), cancellationToken);
            return failure is null ? ConfirmationResult.Confirmed : ConfirmationResult.Fail(failure);
        }, cancellationToken);

    /// <summary>Confirms with a code from the authenticator app; its time step is used up as at login (RFC 6238 §5.2).</summary>
    public Task<ConfirmationResult> WithCodeAsync(
        string userId, string browserSessionId, string? code, IPAddress? clientIp, CancellationToken cancellationToken = default) =>
        ConfirmAsync(userId, clientIp, ConfirmationFactor.AuthenticatorApp, "with the authenticator app", async () =>
        {
            var result = await codes.CheckAsync(userId, code, cancellationToken);
            if (!result.Succeeded)
            {
                return ConfirmationResult.Fail(result.Error!);
            }

            return await recent.MarkAsync(userId, browserSessionId, cancellationToken) ? ConfirmationResult.Confirmed : ConfirmationResult.Fail(SessionEnded);
        }, cancellationToken);

    /// <summary>Confirms with the password, for accounts without a second factor; counts toward the login lockout.</summary>
    public Task<ConfirmationResult> WithPasswordAsync(
        string userId, string browserSessionId, string? password, IPAddress? clientIp, CancellationToken cancellationToken = default) =>
        ConfirmAsync(userId, clientIp, ConfirmationFactor.Password, "with the password", async () =>
        {
            var check = await passwords.CheckForAccountAsync(userId, password, clientIp, cancellationToken);
            return check.Outcome switch
            {
                PasswordCheckOutcome.Succeeded => await recent.MarkAsync(userId, browserSessionId, cancellationToken)
                    ? ConfirmationResult.Confirmed
                    : ConfirmationResult.Fail(SessionEnded),
                PasswordCheckOutcome.LockedOut => ConfirmationResult.Fail(Login.LockedOutMessage),
                PasswordCheckOutcome.RateLimited => ConfirmationResult.Fail(AttemptMessages.RateLimited),
                _ => ConfirmationResult.Fail(WrongPassword),
            };
        }, cancellationToken);

    /// <summary>
    /// Confirms with the recovery key instead of the factor about to be removed (deleting the last passkey,
    /// turning the authenticator app off). As in "Recover two-factor", the key is used up and replaced, and the
    /// account's stamp rotates: every other browser and app is signed out; this browser stays.
    /// </summary>
    /// <returns>On success, the new recovery key (<see cref="ConfirmationResult.NewRecoveryKey"/>), to be shown once.</returns>
    public async Task<ConfirmationResult> WithRecoveryKeyAsync(
        string userId, string browserSessionId, string? input, IPAddress? clientIp, CancellationToken cancellationToken = default)
    {
        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, userId, cancellationToken) is not null)
        {
            return ConfirmationResult.Fail(AttemptMessages.RateLimited);
        }

        if (input is { Length: > RecoveryKeyCodec.MaxInputLength })
        {
            return ConfirmationResult.Fail("That is too long to be a recovery key.");
        }

        var parsed = RecoveryKeyCodec.Parse(input);
        if (!parsed.Succeeded)
        {
            return ConfirmationResult.Fail(parsed.Error!);
        }

        if (await lockout.TryReserveAsync(userId, cancellationToken) is { } remaining)
        {
            return ConfirmationResult.Fail(TwoFactorMessages.LockedOut(remaining));
        }

        if (!await recoveryKeys.MatchesAsync(userId, parsed.Key, cancellationToken))
        {
            await events.RecordAsync(userId, SecurityEventKind.IdentityConfirmationFailed, "with the recovery key", cancellationToken);
            return await lockout.RecordFailureAsync(userId, cancellationToken) is { } locked
                ? ConfirmationResult.Fail(TwoFactorMessages.LockedOut(locked))
                : ConfirmationResult.Fail(TwoFactorMessages.IncorrectRecoveryKey);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var newWords = await recoveryKeys.ReplaceAsync(userId, parsed.Key!, cancellationToken);
        if (newWords is null)
        {
            // Used by another request a moment ago. The key was right: its attempt is given back (after the rollback,
            // which would undo the release too).
            await transaction.RollbackAsync(cancellationToken);
            await lockout.ReleaseAsync(userId, cancellationToken);
            return ConfirmationResult.Fail(TwoFactorMessages.IncorrectRecoveryKey);
        }

        await accountSecurity.RotateAsync(userId, browserSessionId, "recovery key used", cancellationToken);
        if (!await recent.MarkAsync(userId, browserSessionId, cancellationToken))
        {
            await transaction.RollbackAsync(cancellationToken);
            await lockout.ReleaseAsync(userId, cancellationToken);
            return ConfirmationResult.Fail(SessionEnded);
        }

        await events.RecordAsync(userId, SecurityEventKind.RecoveryKeyUsed, cancellationToken: cancellationToken);
        await events.RecordAsync(userId, SecurityEventKind.IdentityConfirmed, "with the recovery key", cancellationToken);
        // Nothing that can fail comes after the commit: once the new key is stored, its words are shown.
        await lockout.ReleaseAsync(userId, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        SecurityLog.ConfirmedWithRecoveryKey(logger, userId);
        return new ConfirmationResult(true, null, newWords);
    }

    private async Task<ConfirmationResult> ConfirmAsync(
        string userId, IPAddress? clientIp, ConfirmationFactor factor, string how, Func<Task<ConfirmationResult>> confirm, CancellationToken cancellationToken)
    {
        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, userId, cancellationToken) is not null)
        {
            return ConfirmationResult.Fail(AttemptMessages.RateLimited);
        }

        // Only the account's strongest factor: a password never stands in for a passkey the account has.
        if (await FactorAsync(userId, cancellationToken) != factor)
        {
            return ConfirmationResult.Fail(WrongFactor);
        }

        var result = await confirm();
        await events.RecordAsync(userId, result.Succeeded ? SecurityEventKind.IdentityConfirmed : SecurityEventKind.IdentityConfirmationFailed, how, cancellationToken);
        SecurityLog.IdentityConfirmation(logger, userId, result.Succeeded ? "confirmed" : "failed to confirm", how);
        return result;
    }
}
