using System.Collections.Immutable;
using System.Security.Claims;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// Decides an authorization request for a signed-in browser (consent, then the identity the app gets) and renews the
/// identity at the token endpoint, refusing it once the account's security stamp rotated.
/// </summary>
public sealed class OidcAuthorization(
    UserManager<PortalUser> users,
    IOpenIddictApplicationManager applications,
    IOpenIddictAuthorizationManager authorizations,
    OidcGrants grants,
    Activity.SecurityEvents events,
    Notifications.KnownDevices devices,
    IOptions<OidcOptions> options,
    TimeProvider time,
    ILogger<OidcAuthorization> logger)
{
    /// <param name="cookie">The browser's sign-in (its account, <c>amr</c> and <c>auth_time</c> claims).</param>
    /// <param name="decision">The consent page's answer, when this request is one (antiforgery already checked).</param>
    /// <returns>The identity to issue a code for, or the step to take instead.</returns>
    public async Task<AuthorizeOutcome> AuthorizeAsync(
        ClaimsPrincipal cookie, OpenIddictRequest request, ImmutableArray<string> prompts, ConsentDecision decision, CancellationToken cancellationToken)
    {
        var user = await users.GetUserAsync(cookie);
        if (user is null)
        {
            return new AuthorizeOutcome(AuthorizeStep.SignIn, null);
        }

        var application = await applications.FindByClientIdAsync(request.ClientId!, cancellationToken)
            ?? throw new InvalidOperationException("OpenIddict accepted a request for a client it does not know.");
        var applicationId = await applications.GetIdAsync(application, cancellationToken);
        var scopes = request.GetScopes();
        var consented = false;
        await foreach (var _ in authorizations.FindAsync(user.Id, applicationId, Statuses.Valid, AuthorizationTypes.Permanent, scopes, cancellationToken))
        {
            consented = true;
            break;
        }

        var firstParty = await applications.HasConsentTypeAsync(application, ConsentTypes.Implicit, cancellationToken);
        var step = AuthorizeFlow.ConsentStep(prompts, firstParty, consented, decision);
        if (step is not (AuthorizeStep.Issue or AuthorizeStep.RecordConsentAndIssue))
        {
            return new AuthorizeOutcome(step, null);
        }

        var methods = cookie.FindAll(AuthenticationMethods.ClaimType).Select(c => c.Value).ToList();
        var principal = OidcPrincipal.Create(user, scopes, AuthenticationMethods.AuthTimeOf(cookie) ?? time.GetUtcNow(), methods, options.Value);
        if (step == AuthorizeStep.RecordConsentAndIssue)
        {
            // The consent: a permanent grant of these scopes, which later sign-ins find. Each sign-in gets its own grant
            // (OpenIddict's ad-hoc authorization), the family a reused refresh token revokes.
            await authorizations.CreateAsync(principal.Identities.First(), user.Id, applicationId!, AuthorizationTypes.Permanent, scopes, cancellationToken);
        }

        var name = await applications.GetDisplayNameAsync(application, cancellationToken) ?? request.ClientId!;
        await events.RecordAsync(user.Id, Activity.SecurityEventKind.AppSignedIn, name, cancellationToken);
        await devices.AppSignedInAsync(user.Id, "oidc:" + request.ClientId, name, cancellationToken);
        OidcLog.SignedIn(logger, user.Id, request.ClientId!, string.Join(' ', methods));
        return new AuthorizeOutcome(step, principal);
    }

    /// <summary>
    /// The identity for a code or refresh token being redeemed, with the account's current email; null (and the grant
    /// ended) when the account is gone or its security stamp rotated since the sign-in.
    /// </summary>
    public async Task<ClaimsPrincipal?> RenewAsync(ClaimsPrincipal principal, CancellationToken cancellationToken)
    {
        var userId = principal.GetClaim(Claims.Subject);
        var user = userId is null ? null : await users.FindByIdAsync(userId);
        if (user is null || !string.Equals(user.SecurityStamp, principal.GetClaim(OidcPrincipal.StampClaim), StringComparison.Ordinal))
        {
            OidcLog.GrantEndedByStamp(logger, userId ?? "(none)", principal.GetPresenters().FirstOrDefault() ?? "(unknown)");
            if (userId is not null && principal.GetAuthorizationId() is { } grant)
            {
                await grants.EndAsync(userId, grant, cancellationToken);
            }

            return null;
        }

        return OidcPrincipal.Refresh(principal, user);
    }

    /// <summary>
    /// Whether this request is the one use of the refresh token it presents. A second request with the same token at the
    /// same moment is a reuse like any other (RFC 9700 §4.14.2): refused, and the sign-in's whole family revoked.
    /// </summary>
    public async Task<bool> ClaimRefreshAsync(ClaimsPrincipal refreshToken, CancellationToken cancellationToken)
    {
        if (refreshToken.GetTokenId() is not { } tokenId || await grants.ClaimRefreshAsync(tokenId, cancellationToken))
        {
            return true;
        }

        if (refreshToken.GetClaim(Claims.Subject) is { } userId && refreshToken.GetAuthorizationId() is { } grant)
        {
            await grants.EndAsync(userId, grant, cancellationToken);
        }

        return false;
    }

    /// <summary>Ends one app sign-in of the account (end-session with its ID token).</summary>
    public Task EndGrantAsync(string userId, string authorizationId, CancellationToken cancellationToken) =>
        grants.EndAsync(userId, authorizationId, cancellationToken);
}

/// <summary>What <see cref="OidcAuthorization.AuthorizeAsync"/> decided: a principal to issue a code for, or another step.</summary>
public sealed record AuthorizeOutcome(AuthorizeStep Step, ClaimsPrincipal? Principal);
