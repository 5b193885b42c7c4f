using AccountsPortal.Data;
using Fido2NetLib;
using Fido2NetLib.Objects;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>Adds passkeys to an account: options out, verified credential in, limits enforced on the server.</summary>
public sealed class PasskeyRegistration(
    PortalDbContext db,
    IFido2 fido2,
    PasskeyCeremonies ceremonies,
    PasskeyRelyingParty relyingParty,
    IOptions<PasskeyOptions> options,
    TimeProvider time,
    Activity.SecurityEvents events,
    Accounts.AccountSecurity accountSecurity,
    Accounts.Sessions.RecentConfirmation confirmation,
    ILogger<PasskeyRegistration> logger)
{
    private PasskeyOptions Options => options.Value;

    public async Task<CeremonyStart> BeginAsync(string userId, CancellationToken cancellationToken = default)
    {
        var email = await db.Users.Where(u => u.Id == userId).Select(u => u.Email).SingleOrDefaultAsync(cancellationToken);
        if (email is null)
        {
            return CeremonyStart.Fail(PasskeyMessages.RequestExpired);
        }

        var existing = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId)
            .Select(p => new { p.CredentialId, p.Transports }).ToListAsync(cancellationToken);
        if (existing.Count >= Options.MaxPasskeysPerUser)
        {
            return CeremonyStart.Fail(PasskeyMessages.Limit(Options.MaxPasskeysPerUser));
        }

        var creation = fido2.RequestNewCredential(new RequestNewCredentialParams
        {
            User = new Fido2User { Id = PasskeyRelyingParty.UserHandleOf(userId), Name = email, DisplayName = email },
            ExcludeCredentials = [.. existing.Select(p => PasskeyRelyingParty.Descriptor(p.CredentialId, p.Transports))],
            AuthenticatorSelection = relyingParty.AuthenticatorSelection(),
            AttestationPreference = relyingParty.Attestation(),
            PubKeyCredParams = relyingParty.Algorithms(),
            Extensions = new AuthenticationExtensionsClientInputs { CredProps = true },
        });

        var json = creation.ToJson();
        var ceremonyId = await ceremonies.StoreAsync(CeremonyPurpose.Registration, userId, null, json, creation.Challenge, Options.RegistrationChallengeLifetime, cancellationToken);
        return new CeremonyStart(ceremonyId, json, null);
    }

    /// <param name="keepBrowserSessionId">
    /// The browser adding the passkey, which must have confirmed it's the owner recently; it stays signed in
    /// while every other session and app token ends.
    /// </param>
    public async Task<PasskeyOutcome> CompleteAsync(
        string userId, string ceremonyId, string? name, string? credentialJson, string? keepBrowserSessionId, CancellationToken cancellationToken = default)
    {
        var validName = PasskeyName.Normalize(name, Options.MaxNameLength);
        if (!validName.IsValid)
        {
            return PasskeyOutcome.Fail(validName.Error!);
        }

        if (!await confirmation.IsFreshAsync(userId, keepBrowserSessionId, cancellationToken))
        {
            return PasskeyOutcome.Fail(Accounts.Sessions.RecentConfirmation.Required);
        }

        if (string.IsNullOrEmpty(credentialJson) || credentialJson.Length > Options.MaxCredentialJsonLength)
        {
            return PasskeyOutcome.Fail(PasskeyMessages.Unreadable);
        }

        var optionsJson = await ceremonies.ConsumeAsync(ceremonyId, CeremonyPurpose.Registration, userId, null, cancellationToken);
        if (optionsJson is null)
        {
            return PasskeyOutcome.Fail(PasskeyMessages.RequestExpired);
        }

        AuthenticatorAttestationRawResponse? attestation;
        try
        {
            attestation = ClientCredentialJson.ReadAttestation(credentialJson);
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception))
        {
            return PasskeyOutcome.Fail(PasskeyMessages.Unreadable);
        }

        if (attestation?.RawId is not { Length: > 0 } rawId || attestation.Response is null
            || ClientCredentialJson.HasTrailingBytes(attestation.Response.AttestationObject))
        {
            return PasskeyOutcome.Fail(PasskeyMessages.Unreadable);
        }

        if (ClientCredentialJson.CheckClientData(attestation.Response.ClientDataJson, relyingParty.CeremonyOrigins) is { } clientDataFailure)
        {
            return PasskeyOutcome.Fail(clientDataFailure);
        }

        if (await db.Passkeys.AnyAsync(p => p.CredentialId == rawId, cancellationToken))
        {
            return PasskeyOutcome.Fail(PasskeyMessages.AlreadyRegistered);
        }

        RegisteredPublicKeyCredential credential;
        try
        {
            credential = await fido2.MakeNewCredentialAsync(new MakeNewCredentialParams
            {
                AttestationResponse = attestation,
                OriginalOptions = CredentialCreateOptions.FromJson(optionsJson),
                IsCredentialIdUniqueToUserCallback = async (args, token) =>
                    !await db.Passkeys.AnyAsync(p => p.CredentialId == args.CredentialId, token),
            }, cancellationToken);
        }
        catch (Exception exception) when (WebAuthnFailures.IsVerificationFailure(exception))
        {
            Activity.SecurityLog.PasskeyRegistrationRefused(logger, userId, WebAuthnFailures.Describe(exception));
            return PasskeyOutcome.Fail(WebAuthnFailures.MessageFor(exception));
        }

        if (!CoseKeyRules.IsStrongEnough(credential.PublicKey))
        {
            Activity.SecurityLog.PasskeyRegistrationRefused(logger, userId, $"an RSA key under {CoseKeyRules.MinRsaModulusBits} bits");
            return PasskeyOutcome.Fail(PasskeyMessages.NotVerified);
        }

        // credProps (WebAuthn L3 §10.1.3) says whether the credential is discoverable, i.e. can sign in without a password.
        var discoverable = attestation.ClientExtensionResults?.CredProps?.Rk;
        return await StoreAsync(userId, validName.Name!, credential, discoverable, keepBrowserSessionId, cancellationToken);
    }

    private async Task<PasskeyOutcome> StoreAsync(
        string userId, string name, RegisteredPublicKeyCredential credential, bool? discoverable, string? keepBrowserSessionId, CancellationToken cancellationToken)
    {
        // The account's row is locked first, so two tabs adding the 10th and 11th passkey at once are counted one
        // after the other, on any node.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.LockAccountAsync(userId, cancellationToken);
        var count = await db.Passkeys.CountAsync(p => p.UserId == userId, cancellationToken);
        if (count >= Options.MaxPasskeysPerUser)
        {
            return PasskeyOutcome.Fail(PasskeyMessages.Limit(Options.MaxPasskeysPerUser));
        }

        var passkey = new Passkey
        {
            UserId = userId,
            CredentialId = credential.Id,
            PublicKey = credential.PublicKey,
            SignCount = credential.SignCount,
            Name = name,
            Aaguid = credential.AaGuid,
            Transports = credential.Transports is { Length: > 0 } transports
                ? string.Join(',', transports.Select(PasskeyRelyingParty.TransportName))
                : null,
            IsBackupEligible = credential.IsBackupEligible,
            IsBackedUp = credential.IsBackedUp,
            IsDiscoverable = discoverable,
            CreatedAt = time.GetUtcNow(),
        };
        db.Passkeys.Add(passkey);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await events.RecordAsync(userId, Activity.SecurityEventKind.PasskeyAdded, name, cancellationToken);
            await accountSecurity.RotateAsync(userId, keepBrowserSessionId, "passkey added", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // The unique index on the credential id: registered meanwhile, by this or another account.
            db.Entry(passkey).State = EntityState.Detached;
            return PasskeyOutcome.Fail(PasskeyMessages.AlreadyRegistered);
        }

        Activity.SecurityLog.PasskeyAdded(logger, passkey.Id, userId);
        return PasskeyOutcome.Success(passkey.Id);
    }
}

public sealed record CeremonyStart(string? CeremonyId, string? OptionsJson, string? Error)
{
    public bool Succeeded => CeremonyId is not null;

    public static CeremonyStart Fail(string error) => new(null, null, error);
}

public sealed record PasskeyOutcome(long? PasskeyId, string? Error)
{
    public bool Succeeded => Error is null;

    public static PasskeyOutcome Success(long passkeyId) => new(passkeyId, null);

    public static PasskeyOutcome Fail(string error) => new(null, error);
}
