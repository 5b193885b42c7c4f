namespace AccountsPortal.Features.Accounts;

/// <summary>The names of registered client apps, as the Apps feature reports them to pages that show who is asking.</summary>
public interface IClientAppNames
{
    /// <summary>The app's display name, or null for an unknown client id.</summary>
    string? NameOf(string? clientId);
}
