using System.Net;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>The registered client apps and the exact redirect URIs each may be sent back to.</summary>
public sealed class ClientApps(IOptions<AppsOptions> options) : Accounts.IClientAppNames
{
    private static readonly string[] ForbiddenSchemes = ["javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss"];

    public ClientApp? Find(string? clientId) =>
        string.IsNullOrEmpty(clientId) ? null : options.Value.Clients.FirstOrDefault(c => string.Equals(c.ClientId, clientId, StringComparison.Ordinal));

    public string? NameOf(string? clientId) => Find(clientId)?.Name;

    /// <summary>Exact, ordinal comparison: a trailing slash, a different case or an added query is a different URI.</summary>
    public static bool IsRegistered(ClientApp client, string? redirectUri) =>
        redirectUri is not null && client.RedirectUris.Any(registered => string.Equals(registered, redirectUri, StringComparison.Ordinal));

    /// <summary>What the verify pages do for an app: nothing (no app), continue to it, or refuse.</summary>
    /// <param name="sessionRedirectUri">
    /// The redirect URI the app asked for at <c>POST /api/v1/login</c>: the only one a link may name, even
    /// if the app registered others (null: the app polls, and the link may name none).
    /// </param>
    public AppTarget Resolve(string? clientId, string? redirectUri, string? sessionClientId, string? sessionRedirectUri)
    {
        if (string.IsNullOrEmpty(clientId) && string.IsNullOrEmpty(redirectUri))
        {
            return sessionClientId is null ? AppTarget.NoApp : AppTarget.Refuse("This login was started by an app, but the link does not name it.");
        }

        var client = Find(clientId);
        if (client is null || !string.Equals(client.ClientId, sessionClientId, StringComparison.Ordinal))
        {
            return AppTarget.Refuse("This link names an app that did not start this login.");
        }

        if (!string.IsNullOrEmpty(redirectUri) && !IsRegistered(client, redirectUri))
        {
            return AppTarget.Refuse($"The return address in this link is not registered for {client.Name}, so the portal will not send you there.");
        }

        if (!string.Equals(string.IsNullOrEmpty(redirectUri) ? null : redirectUri, sessionRedirectUri, StringComparison.Ordinal))
        {
            return AppTarget.Refuse($"The return address in this link is not the one {client.Name} asked for when this login started, so the portal will not send you there.");
        }

        return new AppTarget(client, string.IsNullOrEmpty(redirectUri) ? null : redirectUri, null);
    }

    /// <summary>Why a configured redirect URI is unsafe, or null when it is fine.</summary>
    public static string? ValidateRedirectUri(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
        {
            return $"'{uri}' is not an absolute URI.";
        }

        if (!string.IsNullOrEmpty(parsed.Fragment))
        {
            return $"'{uri}' has a fragment.";
        }

        return parsed.Scheme switch
        {
            "https" => null,
            "http" when parsed.IsLoopback || parsed.Host == "localhost" || IPAddress.TryParse(parsed.Host, out var ip) && IPAddress.IsLoopback(ip) => null,
            "http" => $"'{uri}' uses http for a host other than localhost.",
            _ when ForbiddenSchemes.Contains(parsed.Scheme) => $"'{uri}' uses the {parsed.Scheme} scheme.",
            _ => null,
        };
    }
}

/// <summary>The app a verification returns to, if any, or why the link is refused.</summary>
public sealed record AppTarget(ClientApp? Client, string? RedirectUri, string? Refusal)
{
    public static readonly AppTarget NoApp = new(null, null, null);

    public static AppTarget Refuse(string reason) => new(null, null, reason);

    public bool IsRefused => Refusal is not null;
}
