using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using AccountsPortal.Data;
using Fido2NetLib;
using Fido2NetLib.Exceptions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// One passkey assertion for one account, from options to a verified use: the login's passkey step and
/// "Confirm it's you" both go through here, so both get every check. Fido2NetLib verifies the signature,
/// challenge, RP ID hash, flags (including WebAuthn L3 §6.1: BS only with BE) and origin up to
/// scheme://host:port; this class adds what the library leaves out: single-use server-side challenges,
/// ownership when <c>userHandle</c> is null, exact origins (<see cref="ClientCredentialJson"/>), fixed
/// backup eligibility (§7.2 step 16) and signature counters (§7.2 step 21).
/// </summary>
public sealed class PasskeyAssertions(
    PortalDbContext db,
    IFido2 fido2,
    PasskeyCeremonies ceremonies,
    PasskeyRelyingParty relyingParty,
    IOptions<PasskeyOptions> options,
    TimeProvider time,
    Activity.SecurityEvents events,
    ILogger<PasskeyAssertions> logger)
{
    // authenticatorData: rpIdHash (32) | flags (1) | signCount (4, big-endian) | ...
    private const int FlagsOffset = 32;
    private const int SignCountOffset = 33;
    private const byte BackupEligibleFlag = 0x08;
    private const byte BackedUpFlag = 0x10;

    /// <summary>Assertion options allowing the account's passkeys, stored as a ceremony of <paramref name="purpose"/> bound to <paramref name="boundTo"/>.</summary>
    /// <param name="boundTo">The login session (login) or browser session (confirmation) the challenge belongs to.</param>
    public async Task<CeremonyStart> BeginAsync(string userId, CeremonyPurpose purpose, string boundTo, CancellationToken cancellationToken = default)
    {
        var credentials = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId)
            .Select(p => new { p.CredentialId, p.Transports }).ToListAsync(cancellationToken);
        if (credentials.Count == 0)
        {
            return CeremonyStart.Fail(PasskeyMessages.NotThisAccount);
        }

        var assertion = fido2.GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = [.. credentials.Select(p => PasskeyRelyingParty.Descriptor(p.CredentialId, p.Transports))],
            UserVerification = relyingParty.UserVerification(),
        });

        var json = assertion.ToJson();
        var ceremonyId = await ceremonies.StoreAsync(purpose, userId, boundTo, json, assertion.Challenge, options.Value.LoginChallengeLifetime, cancellationToken);
        return new CeremonyStart(ceremonyId, json, null);
    }

    /// <summary>
    /// Verifies <paramref name="credentialJson"/> against the ceremony (consumed whatever the outcome) and,
    /// when every check passes, records the use and runs <paramref name="onVerified"/> in the same
    /// transaction: the use counts only if that returns true.
    /// </summary>
    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for an app's answer, found by its challenge.</param>
    /// <returns>Null when verified; otherwise the message for the person (<see cref="PasskeyMessages"/>).</returns>
    public async Task<string?> VerifyAsync(
        string userId, CeremonyPurpose purpose, string boundTo, string? ceremonyId, string? credentialJson,
        Func<CancellationToken, Task<bool>> onVerified, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(credentialJson) || credentialJson.Length > options.Value.MaxCredentialJsonLength)
        {
            return PasskeyMessages.Unreadable;
        }

        ceremonyId ??= await ceremonies.FindCeremonyAsync(purpose, boundTo, ChallengeOf(credentialJson), cancellationToken);
        var optionsJson = await ceremonies.ConsumeAsync(ceremonyId, purpose, userId, boundTo, cancellationToken);
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
            .SingleOrDefaultAsync(p => p.CredentialId == rawId && p.UserId == userId, cancellationToken);
        if (passkey is null)
        {
            return PasskeyMessages.NotThisAccount;
        }

        var userHandle = PasskeyRelyingParty.UserHandleOf(userId);
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
            Activity.SecurityLog.PasskeyAssertionRefused(logger, purpose.ToString(), userId, WebAuthnFailures.Describe(exception));
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

        return await RecordUseAsync(passkey, assertedCount, (flags & BackedUpFlag) != 0, onVerified, cancellationToken);
    }

    private async Task<string?> RecordUseAsync(
        Passkey passkey, uint signCount, bool backedUp, Func<CancellationToken, Task<bool>> onVerified, CancellationToken cancellationToken)
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
        if (updated != 1 || !await onVerified(cancellationToken))
        {
            return PasskeyMessages.RequestExpired;
        }

        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.PasskeyVerified(logger, passkey.Id, passkey.UserId);
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
        Activity.SecurityLog.PasskeyCounterWentBack(logger, passkey.Id, assertedCount, passkey.SignCount);
        await db.Passkeys.Where(p => p.Id == passkey.Id)
            .ExecuteUpdateAsync(set => set.SetProperty(p => p.PossiblyCloned, true), cancellationToken);
        await events.RecordAsync(passkey.UserId, Activity.SecurityEventKind.PasskeyPossiblyCloned, passkey.Name, cancellationToken);
    }
}
