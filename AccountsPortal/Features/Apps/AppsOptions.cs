namespace AccountsPortal.Features.Apps;

/// <summary>Client apps that hand their users to the portal, and the limits of the app API. Section "Apps".</summary>
public sealed class AppsOptions
{
    public const string SectionName = "Apps";

    public List<ClientApp> Clients { get; set; } = [];

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long the one-time code sent to an app's redirect URI can be exchanged.</summary>
    public TimeSpan CodeLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long after verification an app that polls can collect its token, and how often.</summary>
    public TimeSpan CollectWindow { get; set; } = TimeSpan.FromMinutes(2);

    public int MaxCollections { get; set; } = 2;
}

public sealed class ClientApp
{
    public string ClientId { get; set; } = "";

    public string Name { get; set; } = "";

    /// <summary>Exact redirect URIs: https, http on localhost only, or an app's own scheme (myapp://passkey).</summary>
    public List<string> RedirectUris { get; set; } = [];
}
