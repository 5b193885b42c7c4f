using System.Security.Claims;
using System.Text.Json;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// The identity an app receives (OpenID Connect Core §2, §5.1, §5.4): <c>sub</c> is the account id (stable, never the
/// email); <c>email</c> and <c>email_verified</c> with the email scope; <c>preferred_username</c> with profile;
/// <c>auth_time</c>, <c>amr</c> (RFC 8176, always a JSON array) and <c>acr</c> from the browser's sign-in. The security
/// stamp rides along in codes and refresh tokens only (no destination): a refresh after the stamp rotated is refused.
/// </summary>
public static class OidcPrincipal
{
    /// <summary>The private claim holding the account's security stamp at sign-in; never in an ID or access token.</summary>
    public const string StampClaim = "portal_stamp";

    public static ClaimsPrincipal Create(
        PortalUser user, IEnumerable<string> scopes, DateTimeOffset authTime, IReadOnlyList<string> methods, OidcOptions options)
    {
        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Id)
            .SetClaim(Claims.AuthenticationTime, authTime.ToUnixTimeSeconds())
            .SetClaim(Claims.AuthenticationContextReference, methods.Contains(AuthenticationMethods.MultiFactor) ? options.MultiFactorAcr : options.SingleFactorAcr)
            .SetClaim(StampClaim, user.SecurityStamp);
        identity.AddClaims(Claims.AuthenticationMethodReference, JsonSerializer.SerializeToElement(methods));
        identity.SetScopes(scopes);
        return Refresh(new ClaimsPrincipal(identity), user);
    }

    /// <summary>Writes the account's current email and user name into a principal (at sign-in and at every refresh) and sets where each claim goes.</summary>
    public static ClaimsPrincipal Refresh(ClaimsPrincipal principal, PortalUser user)
    {
        var emailScope = principal.HasScope(Scopes.Email);
        var profileScope = principal.HasScope(Scopes.Profile);
        principal.SetClaim(Claims.Email, emailScope ? user.Email : null)
            .SetClaim(Claims.EmailVerified, (string?)null)
            .SetClaim(Claims.PreferredUsername, profileScope ? user.UserName : null);
        if (emailScope)
        {
            // A JSON boolean (OpenID Connect Core §5.1).
            principal.AddClaim(Claims.EmailVerified, user.EmailConfirmed);
        }

        principal.SetDestinations(static claim => claim.Type switch
        {
            Claims.Subject or Claims.AuthenticationTime or Claims.AuthenticationMethodReference or Claims.AuthenticationContextReference
                => [Destinations.AccessToken, Destinations.IdentityToken],
            Claims.Email or Claims.EmailVerified or Claims.PreferredUsername => [Destinations.IdentityToken],
            _ => [],
        });
        return principal;
    }

    /// <summary>The userinfo response (OpenID Connect Core §5.3.2) for the scopes an access token carries, from the account as it is now.</summary>
    public static Dictionary<string, object?> UserInfo(ClaimsPrincipal accessToken, PortalUser user)
    {
        var claims = new Dictionary<string, object?>(StringComparer.Ordinal) { [Claims.Subject] = user.Id };
        if (accessToken.HasScope(Scopes.Email))
        {
            claims[Claims.Email] = user.Email;
            claims[Claims.EmailVerified] = user.EmailConfirmed;
        }

        if (accessToken.HasScope(Scopes.Profile))
        {
            claims[Claims.PreferredUsername] = user.UserName;
        }

        return claims;
    }
}
