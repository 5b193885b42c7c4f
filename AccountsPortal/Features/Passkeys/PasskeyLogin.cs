using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.LoginSessions;
using Fido2NetLib;
using Fido2NetLib.Exceptions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The passkey step of a login: assertion options for the login session's user, then verification
/// with Fido2NetLib plus the checks the library leaves to us (ownership, user handle, backup
/// eligibility, counters). A verified assertion marks the login session verified.
/// </summary>
public sealed class PasskeyLogin(
    PortalDbContext db,
    IFido2 fido2,
    PasskeyCeremonies ceremonies,
    PasskeyRelyingParty relyingParty,
    LoginSessionService loginSessions,
    Accounts.Attempts.AttemptRateLimiter rateLimiter,
    IOptions<PasskeyOptions> options,
    TimeProvider time,
    Activity.SecurityEvents events,
    ILogger<PasskeyLogin> logger)
{
    // authenticatorData: rpIdHash (32) | flags (1) | signCount (4, big-endian) | ...
    private const int FlagsOffset = 32;
    private const int SignCountOffset = 33;
    private const byte BackupEligibleFlag = 0x08;
    private const byte BackedUpFlag = 0x10;

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

        var credentials = await db.Passkeys.AsNoTracking().Where(p => p.UserId == session.UserId)
            .Select(p => new { p.CredentialId, p.Transports }).ToListAsync(cancellationToken);
        var assertion = fido2.GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = [.. credentials.Select(p => PasskeyRelyingParty.Descriptor(p.CredentialId, p.Transports))],
            UserVerification = relyingParty.UserVerification(),
        });

        var json = assertion.ToJson();
        var ceremonyId = await ceremonies.StoreAsync(CeremonyPurpose.Login, session.UserId, session.Id, json, assertion.Challenge, options.Value.LoginChallengeLifetime, cancellationToken);
        return new CeremonyStart(ceremonyId, json, null);
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

        if (rateLimiter.TryAcquireForAccount(clientIp, session.UserId) is { } wait)
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

        var remaining = await loginSessions.RecordFailedAttemptAsync(session.Id, cancellationToken);
        return remaining > 0 ? PasskeyLoginResult.Fail(failure) : PasskeyLoginResult.Fail(PasskeyMessages.TooManyAttempts, sessionClosed: true);
    }

    private async Task<LoginSession?> AwaitingPasskeyAsync(string? loginSessionId, CancellationToken cancellationToken)
    {
        var session = await loginSessions.FindLiveAsync(loginSessionId, cancellationToken);
        return session is { State: LoginSessionState.AwaitingSecondFactor, SecondFactor: PasskeySecondFactor.FactorName } ? session : null;
    }

    /// <summary>Null when every check passed and the session is verified; otherwise the reason.</summary>
    private async Task<string?> VerifyAsync(LoginSession session, string? ceremonyId, string? credentialJson, LoginProof proof, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(credentialJson) || credentialJson.Length > options.Value.MaxCredentialJsonLength)
        {
            return PasskeyMessages.Unreadable;
        }

        ceremonyId ??= await ceremonies.FindLoginCeremonyAsync(session.Id, ChallengeOf(credentialJson), cancellationToken);
        var optionsJson = await ceremonies.ConsumeAsync(ceremonyId, CeremonyPurpose.Login, session.UserId, session.Id, cancellationToken);
        if (optionsJson is null)
        {
            return PasskeyMessages.RequestExpired;
        }

        AuthenticatorAssertionRawResponse? assertion;
        try
        {
            assertion = ClientCredentialJson.ReadAssertion(credentialJson);
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception))
        {
            return PasskeyMessages.Unreadable;
        }

        if (assertion?.RawId is not { Length: > 0 } rawId || assertion.Response?.AuthenticatorData is not { Length: >= 37 } authenticatorData)
        {
            return PasskeyMessages.Unreadable;
        }

        if (ClientCredentialJson.CheckClientData(assertion.Response.ClientDataJson, relyingParty.Origins) is { } clientDataFailure)
        {
            return clientDataFailure;
        }

        // Fido2NetLib does not check ownership when userHandle is null: look the credential up for this user only.
        var passkey = await db.Passkeys.AsNoTracking()
            .SingleOrDefaultAsync(p => p.CredentialId == rawId && p.UserId == session.UserId, cancellationToken);
        if (passkey is null)
        {
            return PasskeyMessages.NotThisAccount;
        }

        var userHandle = PasskeyRelyingParty.UserHandleOf(session.UserId);
        if (assertion.Response.UserHandle is { } presented && !CryptographicOperations.FixedTimeEquals(presented, userHandle))
        {
            return PasskeyMessages.NotThisAccount;
        }

        var assertedCount = BinaryPrimitives.ReadUInt32BigEndian(authenticatorData.AsSpan(SignCountOffset, 4));
        try
        {
            await fido2.MakeAssertionAsync(new MakeAssertionParams
            {
                AssertionResponse = assertion,
                OriginalOptions = AssertionOptions.FromJson(optionsJson),
                StoredPublicKey = passkey.PublicKey,
                StoredSignatureCounter = (uint)passkey.SignCount,
                IsUserHandleOwnerOfCredentialIdCallback = (args, _) => Task.FromResult(
                    CryptographicOperations.FixedTimeEquals(args.UserHandle, userHandle)
                    && CryptographicOperations.FixedTimeEquals(args.CredentialId, passkey.CredentialId)),
            }, cancellationToken);
        }
        catch (Fido2VerificationException exception) when (exception.Code == Fido2ErrorCode.InvalidSignCount)
        {
            // The signature was good but the counter did not move forward: a copy of the key may exist.
            await MarkPossiblyClonedAsync(passkey, assertedCount, cancellationToken);
            return PasskeyMessages.PossiblyCloned;
        }
        catch (Exception exception) when (WebAuthnFailures.IsVerificationFailure(exception))
        {
            logger.LogInformation("Passkey login for session of {UserId} refused: {Reason}", session.UserId, WebAuthnFailures.Describe(exception));
            return WebAuthnFailures.MessageFor(exception);
        }

        var flags = authenticatorData[FlagsOffset];
        if (((flags & BackupEligibleFlag) != 0) != passkey.IsBackupEligible)
        {
            // Backup eligibility is fixed when a credential is created; a change means another authenticator.
            return PasskeyMessages.NotVerified;
        }

        if ((assertedCount != 0 || passkey.SignCount != 0) && assertedCount <= passkey.SignCount)
        {
            await MarkPossiblyClonedAsync(passkey, assertedCount, cancellationToken);
            return PasskeyMessages.PossiblyCloned;
        }

        return await RecordUseAndVerifyAsync(session, passkey, assertedCount, (flags & BackedUpFlag) != 0, proof, cancellationToken);
    }

    private async Task<string?> RecordUseAndVerifyAsync(LoginSession session, Passkey passkey, uint signCount, bool backedUp, LoginProof proof, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);

        // Guarded by the counter read above, so two concurrent uses cannot move it backwards.
        var updated = await db.Passkeys
            .Where(p => p.Id == passkey.Id && p.SignCount == passkey.SignCount)
            .ExecuteUpdateAsync(set => set
                .SetProperty(p => p.SignCount, (long)signCount)
                .SetProperty(p => p.IsBackedUp, backedUp)
                .SetProperty(p => p.LastUsedAt, now), cancellationToken);
        if (updated != 1 || !await loginSessions.MarkVerifiedAsync(session.Id, proof, approvalAllowed: true, cancellationToken: cancellationToken))
        {
            return PasskeyMessages.RequestExpired;
        }

        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Passkey {PasskeyId} verified a login for {UserId}", passkey.Id, session.UserId);
        return null;
    }

    /// <summary>The challenge the browser or app signed, read from clientDataJSON; null if unreadable.</summary>
    private static string? ChallengeOf(string credentialJson)
    {
        try
        {
            using var credential = JsonDocument.Parse(credentialJson);
            var clientData = System.Buffers.Text.Base64Url.DecodeFromChars(
                credential.RootElement.GetProperty("response").GetProperty("clientDataJSON").GetString());
            using var parsed = JsonDocument.Parse(clientData);
            return parsed.RootElement.GetProperty("challenge").GetString();
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception) || exception is KeyNotFoundException)
        {
            return null;
        }
    }

    private async Task MarkPossiblyClonedAsync(Passkey passkey, uint assertedCount, CancellationToken cancellationToken)
    {
        logger.LogWarning("Passkey {PasskeyId} presented counter {Asserted} after {Stored}: possibly cloned", passkey.Id, assertedCount, passkey.SignCount);
        await db.Passkeys.Where(p => p.Id == passkey.Id)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.PossiblyCloned, true), cancellationToken);
        await events.RecordAsync(passkey.UserId, Activity.SecurityEventKind.PasskeyPossiblyCloned, passkey.Name, cancellationToken);
    }
}

public sealed record PasskeyLoginResult(bool Succeeded, string? Error, bool SessionClosed, TimeSpan? RetryAfter = null)
{
    public bool IsRateLimited => RetryAfter is not null;

    public static PasskeyLoginResult Limited(TimeSpan wait) => new(false, Accounts.Attempts.AttemptMessages.RateLimited, false, wait);

    public static readonly PasskeyLoginResult Verified = new(true, null, false);
    public static readonly PasskeyLoginResult SessionGone = new(false, PasskeyMessages.LoginSessionExpired, true);

    public static PasskeyLoginResult Fail(string error, bool sessionClosed = false) => new(false, error, sessionClosed);
}
