using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// Makes the database's OpenID Connect applications what <see cref="OidcOptions.Clients"/> says, at every start (after
/// migrations): creates new clients, updates changed ones (a changed secret is hashed again by OpenIddict), and deletes
/// clients no longer configured, with their grants and tokens. Every client must use PKCE, the code flow and exact
/// redirect URIs; a third-party client asks for consent (<see cref="OidcClient.FirstParty"/>).
/// </summary>
public sealed class OidcClientRegistry(IServiceScopeFactory scopes, IOptions<OidcOptions> options, ILogger<OidcClientRegistry> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        int created = 0, updated = 0, removed = 0;
        foreach (var client in options.Value.Clients)
        {
            var wanted = Describe(client);
            var application = await manager.FindByClientIdAsync(client.ClientId, cancellationToken);
            if (application is null)
            {
                try
                {
                    await manager.CreateAsync(wanted, cancellationToken);
                    created++;
                    continue;
                }
                catch (Exception exception) when (exception is Microsoft.EntityFrameworkCore.DbUpdateException or OpenIddictExceptions.ConcurrencyException)
                {
                    // Another node starting at the same moment created it: compare with what it wrote.
                    application = await manager.FindByClientIdAsync(client.ClientId, cancellationToken);
                    if (application is null)
                    {
                        throw;
                    }
                }
            }

            if (await IsCurrentAsync(manager, application, wanted, client, cancellationToken))
            {
                continue;
            }

            try
            {
                await manager.UpdateAsync(application, wanted, cancellationToken);
                updated++;
            }
            catch (OpenIddictExceptions.ConcurrencyException)
            {
                // Another node updated it meanwhile from the same configuration.
            }
        }

        var configured = options.Value.Clients.Select(c => c.ClientId).ToHashSet(StringComparer.Ordinal);
        var stale = new List<object>();
        await foreach (var application in manager.ListAsync(count: null, offset: null, cancellationToken))
        {
            if (!configured.Contains(await manager.GetClientIdAsync(application, cancellationToken) ?? ""))
            {
                stale.Add(application);
            }
        }

        foreach (var application in stale)
        {
            await manager.DeleteAsync(application, cancellationToken);
            removed++;
        }

        OidcLog.ClientsSynchronised(logger, created, updated, removed);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The OpenIddict application a configured client becomes.</summary>
    public static OpenIddictApplicationDescriptor Describe(OidcClient client)
    {
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = client.ClientId,
            DisplayName = client.Name,
            ClientType = client.Type == OidcClientType.Confidential ? ClientTypes.Confidential : ClientTypes.Public,
            ClientSecret = client.Type == OidcClientType.Confidential ? client.ClientSecret : null,
            ConsentType = client.FirstParty ? ConsentTypes.Implicit : ConsentTypes.Explicit,
        };
        descriptor.Permissions.UnionWith(
        [
            Permissions.Endpoints.Authorization,
            Permissions.Endpoints.Token,
            Permissions.Endpoints.EndSession,
            Permissions.Endpoints.Revocation,
            Permissions.GrantTypes.AuthorizationCode,
            Permissions.ResponseTypes.Code,
        ]);
        if (client.Type == OidcClientType.Confidential)
        {
            descriptor.Permissions.Add(Permissions.Endpoints.Introspection);
        }

        if (client.AllowedScopes.Contains(OidcScopes.OfflineAccess))
        {
            descriptor.Permissions.Add(Permissions.GrantTypes.RefreshToken);
        }

        descriptor.Permissions.UnionWith(client.AllowedScopes.Select(scope => Permissions.Prefixes.Scope + scope));
        descriptor.Requirements.Add(Requirements.Features.ProofKeyForCodeExchange);
        descriptor.RedirectUris.UnionWith(client.RedirectUris.Select(uri => new Uri(uri, UriKind.Absolute)));
        descriptor.PostLogoutRedirectUris.UnionWith(client.PostLogoutRedirectUris.Select(uri => new Uri(uri, UriKind.Absolute)));
        return descriptor;
    }

    private static async Task<bool> IsCurrentAsync(
        IOpenIddictApplicationManager manager, object application, OpenIddictApplicationDescriptor wanted, OidcClient client, CancellationToken cancellationToken)
    {
        var stored = new OpenIddictApplicationDescriptor();
        await manager.PopulateAsync(stored, application, cancellationToken);
        var same = stored.DisplayName == wanted.DisplayName
            && stored.ClientType == wanted.ClientType
            && stored.ConsentType == wanted.ConsentType
            && stored.Permissions.SetEquals(wanted.Permissions)
            && stored.Requirements.SetEquals(wanted.Requirements)
            && stored.RedirectUris.Select(u => u.OriginalString).ToHashSet().SetEquals(wanted.RedirectUris.Select(u => u.OriginalString))
            && stored.PostLogoutRedirectUris.Select(u => u.OriginalString).ToHashSet().SetEquals(wanted.PostLogoutRedirectUris.Select(u => u.OriginalString));
        if (!same)
        {
            return false;
        }

        return client.Type == OidcClientType.Public
            ? !await manager.HasClientTypeAsync(application, ClientTypes.Confidential, cancellationToken)
            : await manager.ValidateClientSecretAsync(application, client.ClientSecret!, cancellationToken);
    }
}
