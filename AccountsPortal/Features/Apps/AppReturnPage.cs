namespace AccountsPortal.Features.Apps;

/// <summary>The page that sends a verified login back to its app with a one-time code.</summary>
public static class AppReturnPage
{
    public const string Path = "/apps/return";

    public static string Url(string sessionId, string clientId, string? redirectUri) =>
        $"{Path}?session={Uri.EscapeDataString(sessionId)}&client_id={Uri.EscapeDataString(clientId)}"
        + (redirectUri is null ? "" : $"&redirect_uri={Uri.EscapeDataString(redirectUri)}");

    /// <summary>The app's redirect URI with the session and code added to its query.</summary>
    public static string RedirectWithCode(string redirectUri, string sessionId, string code) =>
        $"{redirectUri}{(redirectUri.Contains('?', StringComparison.Ordinal) ? '&' : '?')}session={Uri.EscapeDataString(sessionId)}&code={Uri.EscapeDataString(code)}";
}
