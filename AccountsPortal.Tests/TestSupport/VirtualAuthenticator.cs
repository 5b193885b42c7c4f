using System.Text.Json;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

public enum VirtualAuthenticatorKind
{
    /// <summary>A platform authenticator (a phone's or laptop's, synced like iCloud Keychain): CTAP2, internal, resident keys, user verification.</summary>
    PlatformWithUserVerification,

    /// <summary>A USB security key without resident keys or user verification.</summary>
    UsbSecurityKey,

    /// <summary>An older U2F security key.</summary>
    U2fSecurityKey,

    /// <summary>A faulty platform authenticator that says its credentials are backed up (BS=1) but not backup eligible (BE=0).</summary>
    BackedUpButNotEligible,
}

/// <summary>A CDP virtual authenticator attached to one page (<c>WebAuthn.addVirtualAuthenticator</c>).</summary>
public sealed class VirtualAuthenticator
{
    private readonly ICDPSession session;

    private VirtualAuthenticator(ICDPSession session, string id)
    {
        this.session = session;
        Id = id;
    }

    public string Id { get; }

    public static async Task<VirtualAuthenticator> AddAsync(IPage page, VirtualAuthenticatorKind kind)
    {
        var session = await page.Context.NewCDPSessionAsync(page);
        await session.SendAsync("WebAuthn.enable", new Dictionary<string, object> { ["enableUI"] = false });
        var options = kind switch
        {
            VirtualAuthenticatorKind.PlatformWithUserVerification => Options("ctap2", "internal", residentKey: true, userVerification: true, synced: true, backedUp: true),
            VirtualAuthenticatorKind.UsbSecurityKey => Options("ctap2", "usb", residentKey: false, userVerification: false, synced: false, backedUp: false),
            VirtualAuthenticatorKind.U2fSecurityKey => Options("u2f", "usb", residentKey: false, userVerification: false, synced: false, backedUp: false),
            VirtualAuthenticatorKind.BackedUpButNotEligible => Options("ctap2", "internal", residentKey: true, userVerification: true, synced: false, backedUp: true),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var result = await session.SendAsync("WebAuthn.addVirtualAuthenticator", new Dictionary<string, object> { ["options"] = options });
        return new VirtualAuthenticator(session, result!.Value.GetProperty("authenticatorId").GetString()!);
    }

    /// <summary>The credentials the authenticator holds, as CDP reports them.</summary>
    public async Task<IReadOnlyList<JsonElement>> GetCredentialsAsync()
    {
        var result = await session.SendAsync("WebAuthn.getCredentials", Args());
        return [.. result!.Value.GetProperty("credentials").EnumerateArray()];
    }

    /// <summary>Puts a credential back (one <see cref="GetCredentialsAsync"/> returned), as a synced passkey reappears on a device.</summary>
    public Task AddCredentialAsync(JsonElement credential) =>
        session.SendAsync("WebAuthn.addCredential", Args(("credential", credential)));

    public Task RemoveAllCredentialsAsync() => session.SendAsync("WebAuthn.clearCredentials", Args());

    /// <summary>Whether the next ceremonies pass user verification (the fingerprint "matches").</summary>
    public Task SetUserVerifiedAsync(bool verified) =>
        session.SendAsync("WebAuthn.setUserVerified", Args(("isUserVerified", verified)));

    /// <summary>With presence simulation off, the browser dialog waits as if the person never touched the key.</summary>
    public Task SetAutomaticPresenceSimulationAsync(bool enabled) =>
        session.SendAsync("WebAuthn.setAutomaticPresenceSimulation", Args(("enabled", enabled)));

    public Task RemoveAsync() => session.SendAsync("WebAuthn.removeVirtualAuthenticator", Args());

    private Dictionary<string, object> Args(params (string Name, object Value)[] extra)
    {
        var args = new Dictionary<string, object> { ["authenticatorId"] = Id };
        foreach (var (name, value) in extra)
        {
            args[name] = value;
        }

        return args;
    }

    /// <param name="synced">Whether new credentials are backup eligible (BE), like a password manager's.</param>
    /// <param name="backedUp">Whether they say they are backed up (BS); a real authenticator says so only when <paramref name="synced"/>.</param>
    private static Dictionary<string, object> Options(string protocol, string transport, bool residentKey, bool userVerification, bool synced, bool backedUp) => new()
    {
        ["defaultBackupEligibility"] = synced,
        ["defaultBackupState"] = backedUp,
        ["protocol"] = protocol,
        ["transport"] = transport,
        ["hasResidentKey"] = residentKey,
        ["hasUserVerification"] = userVerification,
        ["isUserVerified"] = userVerification,
        ["automaticPresenceSimulation"] = true,
    };
}
