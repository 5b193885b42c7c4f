using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using OpenIddict.Abstractions;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// Makes the reuse of a redeemed refresh token (or code) end its whole family, also what is issued after it. OpenIddict
/// revokes the tokens its sign-in has at that moment and keeps the sign-in itself (so the app may start anew); a refresh
/// racing with the reuse could then mint tokens a moment after the revocation. This handler runs just before OpenIddict's
/// check and revokes the sign-in (its ad-hoc authorization) in one conditional UPDATE, so every token of the family,
/// even one issued later, fails at its next use (OpenIddict checks the authorization of every token it accepts).
/// RFC 9700 §4.14.2: "the authorization server ... revokes the active refresh token" of the compromised grant.
/// </summary>
public sealed class RevokeFamilyOnReuse(PortalDbContext db) : IOpenIddictServerHandler<OpenIddictServerEvents.ValidateTokenContext>
{
    public static OpenIddictServerHandlerDescriptor Descriptor { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ValidateTokenContext>()
            .UseScopedHandler<RevokeFamilyOnReuse>()
            .SetOrder(OpenIddictServerHandlers.Protection.ValidateTokenEntry.Descriptor.Order - 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public async ValueTask HandleAsync(OpenIddictServerEvents.ValidateTokenContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.EndpointType != OpenIddictServerEndpointType.Token || (context.TokenId ?? context.Principal?.GetTokenId()) is not { } tokenId)
        {
            return;
        }

        var token = await db.Set<OpenIddictEntityFrameworkCoreToken>().AsNoTracking()
            .Where(t => t.Id == tokenId && t.Status == Statuses.Redeemed)
            .Select(t => new { AuthorizationId = t.Authorization!.Id })
            .SingleOrDefaultAsync(context.CancellationToken);
        if (token?.AuthorizationId is { } authorizationId)
        {
            await db.Set<OpenIddictEntityFrameworkCoreAuthorization>()
                .Where(a => a.Id == authorizationId && a.Type == AuthorizationTypes.AdHoc && a.Status == Statuses.Valid)
                .ExecuteUpdateAsync(set => set.SetProperty(a => a.Status, Statuses.Revoked), context.CancellationToken);
        }
    }
}
