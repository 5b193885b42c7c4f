using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using AccountsPortal.Data;
using Fido2NetLib;
using Fido2NetLib.Exceptions;
using Fido2NetLib.Objects;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// One passkey assertion for one account, from options to a verified use: the login's passkey step and
/// "Confirm it's you" both go through here, so both get every check. Fido2NetLib verifies the signature,
/// challenge, RP ID hash, flags (including WebAuthn L3 §6.1: BS only with BE) and origin up to
/// scheme://host:port; this class adds what the library leaves out: challenges the portal issued for this purpose,
/// account and binding, each answered once (<see cref="PasskeyChallenges"/>, <see cref="PasskeyCeremonies.TryUseAsync"/>),
/// ownership when <c>userHandle</c> is null, exact origins (<see cref="ClientCredentialJson"/>), fixed
/// backup eligibility (§7.2 step 16) and signature counters (§7.2 step 21).
/// </summary>
public sealed class PasskeyAssertions(
    PortalDbContext db,
    IFido2 fido2,
    PasskeyCeremonies ceremonies,
    PasskeyChallenges challenges,
    PasskeyRelyingParty relyingParty,
    IOptions<PasskeyOptions> options,
    TimeProvider time,
    Activity.SecurityEvents events,
    ILogger<PasskeyAssertions> logger)
{
    // authenticatorData: rpIdHash (32) | flags (1) | signCount (4, big-endian) | ...
    private const int FlagsOffset = 32;
    private const int SignCountOffset = 33;
    private const byte UserVerifiedFlag = 0x04;
    private const byte BackupEligibleFlag = 0x08;
    private const byte BackedUpFlag = 0x10;

    private static readonly CompiledQuery<Func<PortalDbContext, string, IAsyncEnumerable<AllowedCredential>>> AllowedQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, string userId) =>
            db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).Select(p => new AllowedCredential(p.CredentialId, p.Transports))));

    private static readonly CompiledQuery<Func<PortalDbContext, byte[], CancellationToken, Task<Passkey?>>> PasskeyQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, byte[] credentialId, CancellationToken _) =>
            db.Passkeys.AsNoTracking().SingleOrDefault(p => p.CredentialId == credentialId)));

    private static readonly CompiledQuery<Func<PortalDbContext, byte[], string, CancellationToken, Task<Passkey?>>> OwnPasskeyQuery = new(() =>
        EF.CompileAsyncQuery((PortalDbContext db, byte[] credentialId, string userId, CancellationToken _) =>
            db.Passkeys.AsNoTracking().SingleOrDefault(p => p.CredentialId == credentialId && p.UserId == userId)));

    /// <summary>
    /// Assertion options allowing the account's passkeys, with a challenge sealed for <paramref name="purpose"/>, the
    /// account and <paramref name="boundTo"/> (<see cref="PasskeyChallenges.Issue"/>): nothing is written. The returned
    /// <see cref="CeremonyStart.CeremonyId"/> is the challenge (base64url).
    /// </summary>
    /// <param name="boundTo">The login session (login) or browser session (confirmation) the challenge belongs to.</param>
    public async Task<CeremonyStart> BeginAsync(string userId, CeremonyPurpose purpose, string boundTo, CancellationToken cancellationToken = default)
    {
        var credentials = await AllowedQuery.For(db)(db, userId).ToListAsync(cancellationToken);
        if (credentials.Count == 0)
        {
            return CeremonyStart.Fail(PasskeyMessages.NotThisAccount);
        }

        var challenge = challenges.Issue(purpose, userId, boundTo, [.. credentials.Select(p => p.CredentialId)], options.Value.LoginChallengeLifetime);
        var assertion = OptionsFor(
            challenge, [.. credentials.Select(p => PasskeyRelyingParty.Descriptor(p.CredentialId, p.Transports))], relyingParty.UserVerification());
        return new CeremonyStart(Base64Url.EncodeToString(challenge), assertion.ToJson(), null);
    }

    /// <summary>
    /// Assertion options for signing in with a passkey alone: no allowed credentials (the authenticator offers its
    /// discoverable ones for the RP ID, WebAuthn L3 §5.1.4.1) and user verification required, with a challenge sealed for
    /// <see cref="CeremonyPurpose.SignIn"/> and <paramref name="boundTo"/>: nothing is written, so anonymous askers store nothing.
    /// </summary>
    /// <param name="boundTo">Null for the portal's login page; <c>app:</c> and the client id for an app.</param>
    public Task<CeremonyStart> BeginSignInAsync(string? boundTo, CancellationToken cancellationToken = default)
    {
        var challenge = challenges.Issue(CeremonyPurpose.SignIn, null, boundTo, [], options.Value.LoginChallengeLifetime);
        var assertion = OptionsFor(challenge, [], UserVerificationRequirement.Required);
        return Task.FromResult(new CeremonyStart(Base64Url.EncodeToString(challenge), assertion.ToJson(), null));
    }

    /// <summary>
    /// The options an assertion is asked and checked with: the same when the challenge is issued and when its answer is
    /// verified (Fido2NetLib compares challenge, RP ID, <c>allowCredentials</c> and user verification, §7.2 steps 5, 12, 15, 17).
    /// </summary>
    private AssertionOptions OptionsFor(byte[] challenge, IReadOnlyList<PublicKeyCredentialDescriptor> allowed, UserVerificationRequirement userVerification)
    {
        var assertion = fido2.GetAssertionOptions(new GetAssertionOptionsParams { AllowedCredentials = allowed, UserVerification = userVerification });
        assertion.Challenge = challenge;
        return assertion;
    }

    /// <summary>
    /// Verifies <paramref name="credentialJson"/> against the ceremony (its challenge used up whatever the outcome) and,
    /// when every check passes, records the use and runs <paramref name="onVerified"/> in the same
    /// transaction: the use counts only if that returns true.
    /// </summary>
    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for an app's answer, whose clientDataJSON names its challenge.</param>
    /// <returns>Null when verified; otherwise the message for the person (<see cref="PasskeyMessages"/>).</returns>
    public async Task<string?> VerifyAsync(
        string userId, CeremonyPurpose purpose, string boundTo, string? ceremonyId, string? credentialJson,
        Func<CancellationToken, Task<bool>> onVerified, CancellationToken cancellationToken = default)
    {
        var check = await CheckAsync(userId, purpose, boundTo, ceremonyId, credentialJson, cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var failure = await RecordAsync(check, transaction, onVerified, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return failure;
    }

    /// <summary>
    /// Everything that can be known about an answer before anything is written: which challenge it answers (one the
    /// portal issued for <paramref name="purpose"/>, the account and <paramref name="boundTo"/>, unexpired), and
    /// whether the signature, challenge, origin, RP ID, flags, ownership and counter all hold (WebAuthn L3 §7.2).
    /// Reads only; <see cref="RecordAsync"/> writes the outcome in the caller's transaction, so a verified use costs
    /// one commit and the signature is never checked while a write lock is held.
    /// </summary>
    /// <param name="ceremonyId">The ceremony <see cref="BeginAsync"/> returned; null for an app's answer, whose clientDataJSON names its challenge.</param>
    public Task<AssertionCheck> CheckAsync(
        string userId, CeremonyPurpose purpose, string boundTo, string? ceremonyId, string? credentialJson, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(userId);
        return purpose == CeremonyPurpose.SignIn
            ? throw new ArgumentException("A passkey sign-in is checked with CheckSignInAsync.", nameof(purpose))
            : CheckCoreAsync(userId, purpose, boundTo, ceremonyId, credentialJson, cancellationToken);
    }

    /// <summary>
    /// As <see cref="CheckAsync"/>, for a passkey sign-in (<see cref="BeginSignInAsync"/>): the credential is looked up
    /// among every account's passkeys, the answer must carry the user handle of the account that owns it (§7.2 step 6)
    /// and report user verification (UV, §7.2 step 17), and the account is the passkey's
    /// (<see cref="AssertionCheck.Passkey"/>). An answer from a credential no account has sets
    /// <see cref="AssertionCheck.UnknownCredentialId"/>, so the page can tell the browser (Signal API).
    /// </summary>
    /// <param name="boundTo">As given to <see cref="BeginSignInAsync"/>.</param>
    /// <param name="ceremonyId">The ceremony <see cref="BeginSignInAsync"/> returned; null for an app's answer, whose clientDataJSON names its challenge.</param>
    public Task<AssertionCheck> CheckSignInAsync(string? boundTo, string? ceremonyId, string? credentialJson, CancellationToken cancellationToken = default) =>
        CheckCoreAsync(null, CeremonyPurpose.SignIn, boundTo, ceremonyId, credentialJson, cancellationToken);

    private async Task<AssertionCheck> CheckCoreAsync(
        string? userId, CeremonyPurpose purpose, string? boundTo, string? ceremonyId, string? credentialJson, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(credentialJson) || credentialJson.Length > options.Value.MaxCredentialJsonLength)
        {
            return AssertionCheck.Refused(null, purpose, userId, boundTo, PasskeyMessages.Unreadable);
        }

        // A ceremony id is the challenge itself; an app's answer names it in clientDataJSON (which Fido2NetLib then
        // compares with the options anyway, §7.2 step 12).
        var challenge = challenges.Open(ceremonyId ?? ChallengeOf(credentialJson), purpose, userId, boundTo);
        if (challenge is null)
        {
            return AssertionCheck.Refused(null, purpose, userId, boundTo, PasskeyMessages.RequestExpired);
        }

        // From here on, whatever the outcome, the challenge is used up.
        AssertionCheck Refuse(string message) => AssertionCheck.Refused(challenge, purpose, userId, boundTo, message);

        AuthenticatorAssertionRawResponse? assertion;
        try
        {
            assertion = ClientCredentialJson.ReadAssertion(credentialJson);
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception))
        {
            return Refuse(PasskeyMessages.Unreadable);
        }

        if (assertion?.RawId is not { Length: > 0 } rawId || assertion.Response?.AuthenticatorData is not { Length: >= 37 } authenticatorData)
        {
            return Refuse(PasskeyMessages.Unreadable);
        }

        if (ClientCredentialJson.CheckClientData(assertion.Response.ClientDataJson, relyingParty.CeremonyOrigins) is { } clientDataFailure)
        {
            return Refuse(clientDataFailure);
        }

        Passkey? passkey;
        if (userId is null)
        {
            // A sign-in: the passkey names the account, and must say so with its user handle (discoverable credentials
            // always return one).
            passkey = await PasskeyQuery.For(db)(db, rawId, cancellationToken);
            if (passkey is null)
            {
                return Refuse(PasskeyMessages.UnknownPasskey) with { UnknownCredentialId = Base64Url.EncodeToString(rawId) };
            }

            if (assertion.Response.UserHandle is not { Length: > 0 })
            {
                return Refuse(PasskeyMessages.NotVerified);
            }

            if ((authenticatorData[FlagsOffset] & UserVerifiedFlag) == 0)
            {
                return Refuse(PasskeyMessages.UserVerificationNeeded);
            }
        }
        else
        {
            // Fido2NetLib does not check ownership when userHandle is null: look the credential up for this user only.
            passkey = await OwnPasskeyQuery.For(db)(db, rawId, userId, cancellationToken);
            if (passkey is null)
            {
                return Refuse(PasskeyMessages.NotThisAccount) with
                {
                    UnknownCredentialId = WasThisAccounts(rawId, assertion.Response.UserHandle, PasskeyRelyingParty.UserHandleOf(userId), challenge)
                        ? Base64Url.EncodeToString(rawId)
                        : null,
                };
            }

            // §7.2 step 5: the options listed the account's passkeys when the challenge was issued; one added since did
            // not answer them (Fido2NetLib is given the asserted passkey as the list, so the check is here).
            if (!challenge.Allows(passkey.CredentialId))
            {
                return Refuse(PasskeyMessages.NotVerified);
            }
        }

        var userHandle = PasskeyRelyingParty.UserHandleOf(passkey.UserId);
        if (assertion.Response.UserHandle is { } presented && !CryptographicOperations.FixedTimeEquals(presented, userHandle))
        {
            // At a sign-in there is no account to name: a handle that is not the passkey's own is a forged answer.
            return Refuse(userId is null ? PasskeyMessages.NotVerified : PasskeyMessages.NotThisAccount);
        }

        var assertedCount = BinaryPrimitives.ReadUInt32BigEndian(authenticatorData.AsSpan(SignCountOffset, 4));
        try
        {
            await fido2.MakeAssertionAsync(new MakeAssertionParams
            {
                AssertionResponse = assertion,
                OriginalOptions = userId is null
                    ? OptionsFor(challenge.Challenge, [], UserVerificationRequirement.Required)
                    : OptionsFor(challenge.Challenge, [PasskeyRelyingParty.Descriptor(passkey.CredentialId, passkey.Transports)], relyingParty.UserVerification()),
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
            return Refuse(PasskeyMessages.PossiblyCloned) with { Passkey = passkey, AssertedCount = assertedCount, PossiblyCloned = true };
        }
        catch (Exception exception) when (WebAuthnFailures.IsVerificationFailure(exception))
        {
            Activity.SecurityLog.PasskeyAssertionRefused(logger, purpose.ToString(), passkey.UserId, WebAuthnFailures.Describe(exception));
            return Refuse(WebAuthnFailures.MessageFor(exception));
        }

        var flags = authenticatorData[FlagsOffset];
        if (((flags & BackupEligibleFlag) != 0) != passkey.IsBackupEligible)
        {
            // Backup eligibility is fixed when a credential is created; a change means another authenticator.
            return Refuse(PasskeyMessages.NotVerified);
        }

        if ((assertedCount != 0 || passkey.SignCount != 0) && assertedCount <= passkey.SignCount)
        {
            return Refuse(PasskeyMessages.PossiblyCloned) with { Passkey = passkey, AssertedCount = assertedCount, PossiblyCloned = true };
        }

        return new AssertionCheck(challenge, purpose, userId, boundTo, null)
        {
            Passkey = passkey,
            AssertedCount = assertedCount,
            BackedUp = (flags & BackedUpFlag) != 0,
        };
    }

    /// <summary>
    /// Writes what <see cref="CheckAsync"/> found, in <paramref name="transaction"/> (the caller commits it): uses the
    /// challenge up whatever the outcome (<see cref="PasskeyCeremonies.TryUseAsync"/>), marks a passkey whose counter went back as possibly cloned, and for a verified
    /// answer moves the counter forward (guarded by the value read, so two concurrent uses cannot move it backwards)
    /// and runs <paramref name="onVerified"/>. When the counter moved meanwhile or <paramref name="onVerified"/>
    /// returns false, the use is undone (to a savepoint) while the challenge stays used.
    /// </summary>
    /// <returns>Null when verified and recorded; otherwise the message for the person (<see cref="PasskeyMessages"/>).</returns>
    public async Task<string?> RecordAsync(
        AssertionCheck check, IDbContextTransaction transaction, Func<CancellationToken, Task<bool>> onVerified, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(onVerified);
        if (check.Challenge is null)
        {
            return check.Failure;
        }

        if (!await ceremonies.TryUseAsync(check.Challenge, check.Purpose, check.UserId, check.BoundTo, cancellationToken))
        {
            // This challenge was answered before, or by another request a moment ago.
            return PasskeyMessages.RequestExpired;
        }

        if (check.PossiblyCloned)
        {
            await MarkPossiblyClonedAsync(check.Passkey!, check.AssertedCount, cancellationToken);
        }

        if (check.Failure is not null)
        {
            return check.Failure;
        }

        var passkey = check.Passkey!;
        var now = time.GetUtcNow();
        await transaction.CreateSavepointAsync(UseSavepoint, cancellationToken);
        // Raw SQL (the statement EF Core made of the LINQ form): the write lock is held from here to the commit.
        var updated = await db.Database.ExecuteSqlInterpolatedAsync($"""
            UPDATE "Passkeys" SET "SignCount" = {(long)check.AssertedCount}, "IsBackedUp" = {check.BackedUp}, "LastUsedAt" = {PortalDbContext.StoredInstant(now)}
            WHERE "Id" = {passkey.Id} AND "SignCount" = {passkey.SignCount}
            """, cancellationToken);
        if (updated != 1 || !await onVerified(cancellationToken))
        {
            await transaction.RollbackToSavepointAsync(UseSavepoint, cancellationToken);
            return PasskeyMessages.RequestExpired;
        }

        Activity.SecurityLog.PasskeyVerified(logger, passkey.Id, passkey.UserId);
        return null;
    }

    private const string UseSavepoint = "passkey_use";

    /// <summary>
    /// Whether a credential the account does not have was, by what the answer and the challenge say, one of the account's
    /// own, since deleted: the authenticator keeps it under this account's user handle, or the options'
    /// <c>allowCredentials</c> (the account's passkeys when the challenge was issued, remembered in it) listed it. Telling the browser so (WebAuthn L3 §5.1.10.1)
    /// reveals no more than <see cref="PasskeyMessages.NotThisAccount"/> does, and looks at no other account. A credential
    /// under another user handle, or under none and not offered, may be another account's live passkey: it is not signalled.
    /// </summary>
    private static bool WasThisAccounts(byte[] credentialId, byte[]? presentedUserHandle, byte[] userHandle, OpenedChallenge challenge) =>
        presentedUserHandle is { Length: > 0 } presented
            ? CryptographicOperations.FixedTimeEquals(presented, userHandle)
            : challenge.Offered(credentialId);

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

/// <summary>
/// What <see cref="PasskeyAssertions.CheckAsync"/> found about an answer, for <see cref="PasskeyAssertions.RecordAsync"/>.
/// </summary>
/// <param name="Challenge">The challenge to use up; null when the answer named none the portal issued for it (then nothing is written).</param>
/// <param name="Failure">Null when every check passed; otherwise the message for the person.</param>
/// <param name="UserId">The account the ceremony was for; null for a sign-in, whose account is <see cref="Passkey"/>'s.</param>
public sealed record AssertionCheck(OpenedChallenge? Challenge, CeremonyPurpose Purpose, string? UserId, string? BoundTo, string? Failure)
{

    /// <summary>The passkey that signed (for a verified answer, or one whose counter went back).</summary>
    public Passkey? Passkey { get; init; }

    /// <summary>The signature counter the authenticator reported (WebAuthn L3 §6.1, 4 bytes big-endian).</summary>
    public uint AssertedCount { get; init; }

    /// <summary>The BS flag of this answer.</summary>
    public bool BackedUp { get; init; }

    /// <summary>A good signature whose counter did not move forward (§7.2 step 21): <see cref="Passkey"/> is marked.</summary>
    public bool PossiblyCloned { get; init; }

    /// <summary>
    /// The credential id (base64url) of an answer refused because the account does not have that credential although it
    /// was the account's own (deleted since), or, for a sign-in, because no account has it: the page tells the browser's
    /// passkey managers to stop offering it (WebAuthn L3 §5.1.10.1 <c>signalUnknownCredential</c>). Null otherwise.
    /// </summary>
    public string? UnknownCredentialId { get; init; }

    internal static AssertionCheck Refused(OpenedChallenge? challenge, CeremonyPurpose purpose, string? userId, string? boundTo, string message) =>
        new(challenge, purpose, userId, boundTo, message);
}

/// <summary>A passkey as assertion options list it (WebAuthn L3 §5.4.5 <c>allowCredentials</c>).</summary>
internal sealed record AllowedCredential(byte[] CredentialId, string? Transports);
