using Microsoft.JSInterop;

namespace AccountsPortal.Features.Passkeys;

/// <summary>The browser's passkey dialogs, through the ES module beside the passkey pages.</summary>
public sealed class PasskeyBrowser(IJSRuntime js) : IAsyncDisposable
{
    public const string ModulePath = "./Features/Passkeys/Passkeys.razor.js";

    private IJSObjectReference? module;

    /// <summary>Opens the "create a passkey" dialog.</summary>
    public Task<BrowserCredential> CreateAsync(string optionsJson, int maxLength) => InvokeAsync("create", optionsJson, maxLength);

    /// <summary>Opens the "use a passkey" dialog.</summary>
    public Task<BrowserCredential> GetAsync(string optionsJson, int maxLength) => InvokeAsync("get", optionsJson, maxLength);

    private async Task<BrowserCredential> InvokeAsync(string function, string optionsJson, int maxLength)
    {
        try
        {
            module ??= await js.InvokeAsync<IJSObjectReference>("import", ModulePath);
            return await module.InvokeAsync<BrowserCredential>(function, optionsJson, maxLength);
        }
        catch (JSException exception)
        {
            return new BrowserCredential(false, null, "Error", exception.Message);
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

/// <summary>What the module returns: the credential JSON, or the DOMException's name and message.</summary>
public sealed record BrowserCredential(bool Ok, string? Credential, string? Name, string? Message)
{
    public bool WasCancelled => Name is "NotAllowedError" or "AbortError";

    public bool NeedsUserActivation => Name == "UserActivationRequired";

    /// <summary>The authenticator already holds a credential listed in excludeCredentials.</summary>
    public bool IsAlreadyRegistered => Name == "InvalidStateError";
}
