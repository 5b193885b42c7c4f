using System.Text.RegularExpressions;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// Checks the portal adds to OpenIddict's own: a client may revoke or introspect only tokens issued to it (RFC 7009 §2.1,
/// RFC 7662 §2.1: the portal has no resource servers), and a PKCE verifier must have the form RFC 7636 §4.1 gives it.
/// </summary>
public static partial class ProtocolGuards
{
    /// <summary>43 to 128 characters of the unreserved set (RFC 7636 §4.1).</summary>
    [GeneratedRegex("^[A-Za-z0-9._~-]{43,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex VerifierForm();

    public static OpenIddictServerHandlerDescriptor RevocationByPresenter { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ValidateRevocationRequestContext>()
            .UseInlineHandler(context =>
            {
                // unauthorized_client, not invalid_token: OpenIddict answers an invalid token at revocation with 200 (RFC 7009
                // §2.2), which would read as "revoked" to the caller.
                RejectUnlessPresenter(context, context.GenericTokenPrincipal, context.ClientId, Errors.UnauthorizedClient);
                return default;
            })
            .SetOrder(OpenIddictServerHandlers.Revocation.ValidateAuthentication.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor IntrospectionByPresenter { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ValidateIntrospectionRequestContext>()
            .UseInlineHandler(context =>
            {
                // Answered as an inactive token (RFC 7662 §2.2): the caller learns nothing about it.
                RejectUnlessPresenter(context, context.GenericTokenPrincipal, context.ClientId, Errors.InvalidToken);
                return default;
            })
            .SetOrder(OpenIddictServerHandlers.Introspection.ValidateAuthentication.Descriptor.Order + 500)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    public static OpenIddictServerHandlerDescriptor VerifierFormat { get; } =
        OpenIddictServerHandlerDescriptor.CreateBuilder<OpenIddictServerEvents.ValidateTokenRequestContext>()
            .UseInlineHandler(context =>
            {
                if (context.Request.IsAuthorizationCodeGrantType() && context.Request.CodeVerifier is { Length: > 0 } verifier && !VerifierForm().IsMatch(verifier))
                {
                    context.Reject(Errors.InvalidRequest, "The code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 §4.1).");
                }

                return default;
            })
            .SetOrder(int.MinValue + 100_000)
            .SetType(OpenIddictServerHandlerType.Custom)
            .Build();

    private static void RejectUnlessPresenter(
        OpenIddictServerEvents.BaseValidatingContext context, System.Security.Claims.ClaimsPrincipal? token, string? clientId, string error)
    {
        if (token is not null && (string.IsNullOrEmpty(clientId) || !token.GetPresenters().Contains(clientId, StringComparer.Ordinal)))
        {
            context.Reject(error, "The token was not issued to this client.");
        }
    }
}
