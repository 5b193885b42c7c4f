using System.Net;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.TwoFactor;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// Signing in with a passkey alone, on the login page or for an app (<see cref="PasskeyOptions.PasskeySignIn"/>): a
/// discoverable credential that verifies its user (UV=1) counts as both factors, something the person has and something
/// they are or know. The account is the one whose passkey answered (found by credential id, confirmed by the user
/// handle, <see cref="PasskeyAssertions.CheckSignInAsync"/>). The same limits hold as for a password: the per-IP rate
/// limit before anything is read, the account's password and second-factor lockouts, and its per-account rate limit,
/// taken in the transaction that records the use. A refused answer changes nothing but its used-up ceremony (and a
/// possibly cloned passkey's mark).
/// </summary>
public sealed class PasskeySignIn(
    PortalDbContext db,
    PasskeyAssertions assertions,
    AttemptRateLimiter rateLimiter,
    AttemptLimits attempts,
    SecondFactorLockout secondFactorLockout,
    IOptions<PasskeyOptions> options)
{
    /// <summary>The name a login session verified this way carries as its second factor (activity shows it as such).</summary>
    public const string FactorName = "passkey-sign-in";

    /// <summary>The ceremony binding of an app's sign-in: <c>app:</c> and its client id, so one app cannot answer another's challenge.</summary>
    public static string AppBinding(string clientId) => "app:" + clientId;

    /// <summary>Whether the portal offers passkey sign-in (<see cref="PasskeyOptions.PasskeySignIn"/>).</summary>
    public bool Enabled => options.Value.PasskeySignIn;

    /// <summary>Assertion options for a sign-in (no allowed credentials, UV required), or a failure when it is turned off.</summary>
    /// <param name="boundTo">Null for the portal's login page; <see cref="AppBinding"/> for an app.</param>
    public Task<CeremonyStart> BeginAsync(string? boundTo, CancellationToken cancellationToken = default) =>
        Enabled ? assertions.BeginSignInAsync(boundTo, cancellationToken) : Task.FromResult(CeremonyStart.Fail(PasskeyMessages.SignInUnavailable));

    /// <summary>
    /// Checks a sign-in answer and, when every check and limit passes, runs <paramref name="onVerified"/> for the
    /// account in the transaction that uses the ceremony up and moves the passkey's counter: the sign-in counts only if
    /// that returns true (it creates the login session, or the app's token).
    /// </summary>
    /// <param name="boundTo">As given to <see cref="BeginAsync"/>.</param>
    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for an app's answer, found by its challenge.</param>
    /// <param name="credentialJson">The answer, <c>PublicKeyCredential.toJSON()</c>; at most <see cref="PasskeyOptions.MaxCredentialJsonLength"/> characters.</param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<PasskeySignInResult> CompleteAsync(
        string? boundTo, string? ceremonyId, string? credentialJson, IPAddress? clientIp,
        Func<SignInAccount, CancellationToken, Task<bool>> onVerified, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onVerified);
        if (!Enabled)
        {
            return PasskeySignInResult.Fail(PasskeySignInOutcome.Unavailable, PasskeyMessages.SignInUnavailable);
        }

        // The account is not known before the answer is read: the address pays first.
        if (await rateLimiter.TryAcquireForAccountAsync(clientIp, null, cancellationToken) is { } ipWait)
        {
            return PasskeySignInResult.Limited(ipWait);
        }

        var check = await assertions.CheckSignInAsync(boundTo, ceremonyId, credentialJson, cancellationToken);
        var account = check.Passkey is { } passkey
            ? await db.Users.AsNoTracking().Where(u => u.Id == passkey.UserId)
                .Select(u => new SignInAccount(u.Id, u.NormalizedEmail, u.EmailConfirmed, u.SecurityStamp, passkey.IsBackupEligible))
                .SingleOrDefaultAsync(cancellationToken)
            : null;
        if (check.Failure is null && account is not null)
        {
            // The account's lockouts hold for a passkey too; refused before anything is written.
            var locked = await RemainingLockoutAsync(account, cancellationToken);
            if (locked is not null)
            {
                return PasskeySignInResult.Fail(PasskeySignInOutcome.LockedOut, Accounts.SignIn.Login.LockedOutMessage, locked);
            }

            if (!account.EmailConfirmed)
            {
                return PasskeySignInResult.Fail(PasskeySignInOutcome.EmailNotVerified, PasskeyMessages.SignInEmailNotVerified);
            }
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (account is not null && await rateLimiter.TryAcquireForAccountAsync(null, account.UserId, cancellationToken) is { } accountWait)
        {
            await transaction.RollbackAsync(cancellationToken);
            return PasskeySignInResult.Limited(accountWait);
        }

        var failure = await assertions.RecordAsync(
            check, transaction, token => account is null ? Task.FromResult(false) : onVerified(account, token), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        if (failure is null)
        {
            return new PasskeySignInResult(PasskeySignInOutcome.SignedIn, null, null, account!.UserId);
        }

        return check.UnknownCredentialId is not null
            ? PasskeySignInResult.Fail(PasskeySignInOutcome.UnknownCredential, failure)
            : PasskeySignInResult.Fail(PasskeySignInOutcome.Refused, failure);
    }

    private async Task<TimeSpan?> RemainingLockoutAsync(SignInAccount account, CancellationToken cancellationToken)
    {
        var password = account.NormalizedEmail is { } email
            ? await attempts.RemainingAsync(AttemptLimits.PasswordKey(email), cancellationToken)
            : null;
        var secondFactor = await secondFactorLockout.RemainingAsync(account.UserId, cancellationToken);
        return (password, secondFactor) switch
        {
            (null, null) => null,
            ({ } a, { } b) => a > b ? a : b,
            _ => password ?? secondFactor,
        };
    }
}

/// <summary>The account a passkey sign-in answer belongs to.</summary>
/// <param name="NormalizedEmail">Its email as the password lockout keys it.</param>
/// <param name="SecurityStamp">Its security stamp when the answer was checked: a token issued against it is withdrawn if the stamp rotated since.</param>
/// <param name="PasskeyBackupEligible">Whether the passkey that answered is synced (backup eligible), for <see cref="Accounts.LoginSessions.AuthenticationMethods"/>.</param>
public sealed record SignInAccount(string UserId, string? NormalizedEmail, bool EmailConfirmed, string? SecurityStamp, bool PasskeyBackupEligible = false);

public enum PasskeySignInOutcome
{
    SignedIn,

    /// <summary>The answer was unreadable, expired, for another site or not verified.</summary>
    Refused,

    /// <summary>No account has the credential (deleted, or never registered here).</summary>
    UnknownCredential,

    LockedOut,
    RateLimited,
    EmailNotVerified,

    /// <summary>Passkey sign-in is turned off (<see cref="PasskeyOptions.PasskeySignIn"/>).</summary>
    Unavailable,
}

/// <param name="RetryAfter">How long a locked-out or rate-limited caller should wait.</param>
/// <param name="UserId">The account signed in.</param>
public sealed record PasskeySignInResult(PasskeySignInOutcome Outcome, string? Error, TimeSpan? RetryAfter = null, string? UserId = null)
{
    public bool Succeeded => Outcome == PasskeySignInOutcome.SignedIn;

    public static PasskeySignInResult Fail(PasskeySignInOutcome outcome, string error, TimeSpan? retryAfter = null) => new(outcome, error, retryAfter);

    public static PasskeySignInResult Limited(TimeSpan wait) => new(PasskeySignInOutcome.RateLimited, AttemptMessages.RateLimited, wait);
}
