using Microsoft.Extensions.Options;
using Microsoft.JSInterop;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The browser's passkey dialogs, through the ES module beside the passkey pages. Every way a call can
/// end (an answer, a DOMException, the call outliving its ceremony, the circuit going away) comes back
/// as a <see cref="BrowserCredential"/>: a page never sees an exception from here.
/// </summary>
public sealed class PasskeyBrowser(IJSRuntime js, IOptions<PasskeyOptions> options, TimeProvider time) : IAsyncDisposable
{
    public const string ModulePath = "./Features/Passkeys/Passkeys.razor.js";

    /// <summary>Added to a ceremony's lifetime for a call's timeout: the answer still has to travel back.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(15);

    private IJSObjectReference? module;

    /// <summary>Opens the "create a passkey" dialog; gives up <see cref="CallTimeout"/> after it opened.</summary>
    public Task<BrowserCredential> CreateAsync(string optionsJson, int maxLength) =>
        InvokeAsync("create", optionsJson, maxLength, CallTimeout(options.Value.RegistrationChallengeLifetime));

    /// <summary>Opens the "use a passkey" dialog; gives up <see cref="CallTimeout"/> after it opened.</summary>
    public Task<BrowserCredential> GetAsync(string optionsJson, int maxLength) =>
        InvokeAsync("get", optionsJson, maxLength, CallTimeout(options.Value.LoginChallengeLifetime));

    /// <summary>
    /// How long a dialog call may take: the longer of the ceremony's challenge lifetime and the dialog's own
    /// timeout, plus <see cref="Grace"/>. Blazor's default of 60 s for interop calls is shorter than a
    /// cross-device (QR code) sign-in often takes, so it never applies to these calls.
    /// </summary>
    public TimeSpan CallTimeout(TimeSpan challengeLifetime) =>
        (challengeLifetime > options.Value.DialogTimeout ? challengeLifetime : options.Value.DialogTimeout) + Grace;

    private async Task<BrowserCredential> InvokeAsync(string function, string optionsJson, int maxLength, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        try
        {
            module ??= await js.InvokeAsync<IJSObjectReference>("import", deadline.Token, ModulePath);
            // A token of our own replaces Blazor's default interop timeout for this call; WaitAsync keeps the
            // deadline even where the JS runtime does not watch the token.
            return await module.InvokeAsync<BrowserCredential>(function, deadline.Token, optionsJson, maxLength).AsTask().WaitAsync(deadline.Token);
        }
        catch (JSException exception)
        {
            return new BrowserCredential(false, null, "Error", exception.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await AbortAsync();
            return BrowserCredential.TimedOut;
        }
        catch (Exception exception) when (exception is JSDisconnectedException or OperationCanceledException or InvalidOperationException)
        {
            // The circuit went away or the runtime refused the call (prerendering): nothing to show it to, nothing to keep.
            return new BrowserCredential(false, null, "Disconnected", "The connection to the page was lost.");
        }
    }

    /// <summary>How long a signal call may take before the page stops waiting for it (nothing is shown either way).</summary>
    public static readonly TimeSpan SignalTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Tells the browser's passkey managers which of the account's passkeys still work (WebAuthn L3 §5.1.10.2
    /// <c>PublicKeyCredential.signalAllAcceptedCredentials</c>): one the portal no longer has stops being offered.
    /// </summary>
    /// <returns>What became of the call; never throws.</returns>
    public Task<PasskeySignalOutcome> SignalAllAcceptedCredentialsAsync(AllAcceptedCredentialsSignal signal) =>
        SignalAsync("signalAllAcceptedCredentials", signal);

    /// <summary>
    /// Tells the browser's passkey managers the account's current name (WebAuthn L3 §5.1.10.3
    /// <c>PublicKeyCredential.signalCurrentUserDetails</c>), e.g. after its email address changed.
    /// </summary>
    /// <returns>What became of the call; never throws.</returns>
    public Task<PasskeySignalOutcome> SignalCurrentUserDetailsAsync(CurrentUserDetailsSignal signal) =>
        SignalAsync("signalCurrentUserDetails", signal);

    /// <summary>
    /// Tells the browser's passkey managers that the portal does not know a credential the browser just used
    /// (WebAuthn L3 §5.1.10.1 <c>PublicKeyCredential.signalUnknownCredential</c>), so it stops offering it.
    /// </summary>
    /// <param name="credentialId">The credential id, base64url without padding (<see cref="PasskeyLoginResult.UnknownCredentialId"/>).</param>
    /// <returns>What became of the call; never throws.</returns>
    public Task<PasskeySignalOutcome> SignalUnknownCredentialAsync(string credentialId) =>
        SignalAsync("signalUnknownCredential", new UnknownCredentialSignal(options.Value.RelyingPartyId, credentialId));

    /// <summary>Sends both signals about the account (<see cref="PasskeySignals.ForAccountAsync"/>), one after the other; never throws.</summary>
    public async Task SignalAccountAsync(AccountSignals signals)
    {
        ArgumentNullException.ThrowIfNull(signals);
        await SignalAllAcceptedCredentialsAsync(signals.AllAcceptedCredentials);
        await SignalCurrentUserDetailsAsync(signals.CurrentUserDetails);
    }

    private async Task<PasskeySignalOutcome> SignalAsync(string function, object signal)
    {
        using var deadline = new CancellationTokenSource(SignalTimeout, time);
        try
        {
            module ??= await js.InvokeAsync<IJSObjectReference>("import", deadline.Token, ModulePath);
            var outcome = await module.InvokeAsync<string?>(function, deadline.Token, signal).AsTask().WaitAsync(deadline.Token);
            return outcome switch
            {
                "sent" => PasskeySignalOutcome.Sent,
                "unsupported" => PasskeySignalOutcome.Unsupported,
                _ => PasskeySignalOutcome.Failed,
            };
        }
        catch (Exception exception) when (exception is JSException or JSDisconnectedException or OperationCanceledException or InvalidOperationException)
        {
            // A signal is a courtesy to the passkey manager: a page that cannot send it carries on as before.
            return PasskeySignalOutcome.Failed;
        }
    }

    /// <summary>Closes a dialog the page no longer waits for, so that "Try again" can open a new one.</summary>
    private async Task AbortAsync()
    {
        try
        {
            if (module is not null)
            {
                using var deadline = new CancellationTokenSource(Grace, time);
                await module.InvokeVoidAsync("abort", deadline.Token).AsTask().WaitAsync(deadline.Token);
            }
        }
        catch (Exception exception) when (exception is JSException or JSDisconnectedException or OperationCanceledException or InvalidOperationException)
        {
            // Best effort: the dialog times out by itself as well.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (module is not null)
        {
            try
            {
                await module.DisposeAsync();
            }
            catch (JSDisconnectedException)
            {
                // The circuit is gone; so is the module.
            }
        }
    }
}

/// <summary>What became of a call of the WebAuthn Signal API (WebAuthn L3 §5.1.10).</summary>
public enum PasskeySignalOutcome
{
    /// <summary>The browser took the signal (its promise resolved); what a passkey manager does with it is its own.</summary>
    Sent,

    /// <summary>The browser has no such method: nothing was sent.</summary>
    Unsupported,

    /// <summary>The browser rejected the call (e.g. SecurityError, TypeError), it timed out, or the page was gone.</summary>
    Failed,
}

/// <summary>What the module returns: the credential JSON, or the DOMException's name and message.</summary>
public sealed record BrowserCredential(bool Ok, string? Credential, string? Name, string? Message)
{
    /// <summary>The call outlived its ceremony (<see cref="PasskeyBrowser.CallTimeout"/>).</summary>
    public static readonly BrowserCredential TimedOut = new(false, null, "TimeoutError", "The passkey dialog stayed open too long.");

    public bool WasCancelled => Name is "NotAllowedError" or "AbortError";

    public bool NeedsUserActivation => Name == "UserActivationRequired";

    /// <summary>The authenticator already holds a credential listed in excludeCredentials.</summary>
    public bool IsAlreadyRegistered => Name == "InvalidStateError";
}
