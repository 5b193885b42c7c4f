using System.Net;
using AccountsPortal.Features.Passkeys;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Confirmation;

/// <summary>
/// The steps of "Confirm it's you" as a page or dialog shows them: which factor to ask for, the passkey
/// dialog, a code, a password or (where allowed) the recovery key, and what to show after. Pages render
/// <see cref="Stage"/> and call these methods; tests drive it the same way.
/// </summary>
public sealed class ConfirmationFlow(Confirmations confirmations, PasskeyBrowser browser, IOptions<PasskeyOptions> passkeyOptions)
{
    public enum Stages
    {
        Loading,

        /// <summary>Waiting for the person: a button for the passkey, a field for the code or password.</summary>
        Ready,

        /// <summary>The browser's passkey dialog is open.</summary>
        Prompting,

        /// <summary>Confirmed with the recovery key: its replacement must be shown before going on.</summary>
        NewRecoveryKey,

        Confirmed,
    }

    private string userId = "";
    private string browserSessionId = "";
    private IPAddress? clientIp;

    public Stages Stage { get; private set; } = Stages.Loading;

    public ConfirmationFactor Factor { get; private set; }

    /// <summary>Whether the recovery key may stand in for the factor (deleting the last passkey, turning the app off).</summary>
    public bool RecoveryKeyAllowed { get; private set; }

    /// <summary>The person chose "Use your recovery key instead".</summary>
    public bool UsingRecoveryKey { get; private set; }

    /// <summary>The last failure, for the page's alert; null after a success or a plain cancel.</summary>
    public string? Error { get; private set; }

    /// <summary>After a cancelled passkey dialog: a calm note instead of an error.</summary>
    public string? Note { get; private set; }

    public IReadOnlyList<string>? NewRecoveryKey { get; private set; }

    public async Task StartAsync(string userId, string browserSessionId, IPAddress? clientIp, bool recoveryKeyAllowed, CancellationToken cancellationToken = default)
    {
        this.userId = userId;
        this.browserSessionId = browserSessionId;
        this.clientIp = clientIp;
        RecoveryKeyAllowed = recoveryKeyAllowed;
        Factor = await confirmations.FactorAsync(userId, cancellationToken);
        Stage = Stages.Ready;
    }

    public void UseRecoveryKey(bool use)
    {
        UsingRecoveryKey = use && RecoveryKeyAllowed;
        Error = null;
        Note = null;
    }

    /// <summary>Opens the browser's passkey dialog and checks its answer.</summary>
    public async Task UsePasskeyAsync()
    {
        Error = null;
        Note = null;
        var start = await confirmations.BeginPasskeyAsync(userId, browserSessionId);
        if (!start.Succeeded)
        {
            Error = start.Error;
            return;
        }

        Stage = Stages.Prompting;
        var answer = await browser.GetAsync(start.OptionsJson!, passkeyOptions.Value.MaxCredentialJsonLength);
        Stage = Stages.Ready;
        if (!answer.Ok)
        {
            if (answer.WasCancelled || answer.NeedsUserActivation)
            {
                Note = "No passkey was used. Try again when you are ready.";
            }
            else
            {
                Error = $"Your browser could not use a passkey: {answer.Message}";
            }

            return;
        }

        Apply(await confirmations.WithPasskeyAsync(userId, browserSessionId, start.CeremonyId, answer.Credential, clientIp));
    }

    public async Task SubmitCodeAsync(string? code) => Apply(await confirmations.WithCodeAsync(userId, browserSessionId, code, clientIp));

    public async Task SubmitPasswordAsync(string? password) => Apply(await confirmations.WithPasswordAsync(userId, browserSessionId, password, clientIp));

    public async Task SubmitRecoveryKeyAsync(string? recoveryKey)
    {
        if (!RecoveryKeyAllowed)
        {
            Error = Confirmations.WrongFactor;
            return;
        }

        Apply(await confirmations.WithRecoveryKeyAsync(userId, browserSessionId, recoveryKey, clientIp));
    }

    /// <summary>The person saved the new recovery key: the confirmation is complete.</summary>
    public void AcknowledgeNewRecoveryKey()
    {
        if (Stage == Stages.NewRecoveryKey)
        {
            Stage = Stages.Confirmed;
        }
    }

    private void Apply(ConfirmationResult result)
    {
        Note = null;
        Error = result.Error;
        if (result.Succeeded)
        {
            NewRecoveryKey = result.NewRecoveryKey;
            Stage = result.NewRecoveryKey is null ? Stages.Confirmed : Stages.NewRecoveryKey;
        }
    }
}
