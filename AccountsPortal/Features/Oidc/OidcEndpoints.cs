using System.Security.Claims;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// The pass-through endpoints of the OpenID Connect provider. OpenIddict validates every request first (client, exact
/// redirect URI, PKCE S256, scopes, codes and refresh tokens, single use); these handlers decide who is signed in, what
/// they allowed, and what the tokens say. Discovery, JWKS, revocation and introspection are OpenIddict's own.
/// </summary>
internal static class OidcEndpoints
{
    public const string AuthorizePath = "/connect/authorize";
    public const string TokenPath = "/connect/token";
    public const string UserInfoPath = "/connect/userinfo";
    public const string EndSessionPath = "/connect/logout";
    public const string RevocationPath = "/connect/revoke";
    public const string IntrospectionPath = "/connect/introspect";
    public const string JwksPath = "/.well-known/jwks";
    public const string ConsentPath = "/connect/consent";
    public const string SignOutPromptPath = "/connect/sign-out";

    /// <summary>The consent page's answer field: "allow" or "deny".</summary>
    public const string ConsentField = "portal_consent";

    /// <summary>The sign-out prompt's answer field.</summary>
    public const string SignOutField = "portal_sign_out";

    private static readonly string[] ProtocolFields = [ConsentField, SignOutField, "__RequestVerificationToken"];

    public static IEndpointRouteBuilder MapOidcEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapMethods(AuthorizePath, [HttpMethods.Get, HttpMethods.Post], AuthorizeAsync).DisableAntiforgery();
        endpoints.MapPost(TokenPath, TokenAsync).DisableAntiforgery();
        endpoints.MapMethods(UserInfoPath, [HttpMethods.Get, HttpMethods.Post], UserInfoAsync).DisableAntiforgery();
        endpoints.MapMethods(EndSessionPath, [HttpMethods.Get, HttpMethods.Post], EndSessionAsync).DisableAntiforgery();
        return endpoints;
    }

    private static async Task<IResult> AuthorizeAsync(
        HttpContext context, OidcAuthorization authorization, IAntiforgery antiforgery, TimeProvider time)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("OpenIddict did not handle this authorization request.");
        // A repeated parameter (RFC 6749 §3.1: MUST NOT) would be read one way here and another by OpenIddict: refused.
        if (HasRepeatedParameter(context))
        {
            return Refuse(Errors.InvalidRequest, "A parameter appears more than once.");
        }

        // Only the code flow exists; a value such as "code code" would pass OpenIddict's check and fail its response.
        if (request.ResponseType != ResponseTypes.Code)
        {
            return Refuse(Errors.UnsupportedResponseType, "Only response_type=code is supported.");
        }

        if (RawParameter(context, Parameters.MaxAge) is not null && request.MaxAge is not >= 0)
        {
            return Refuse(Errors.InvalidRequest, "max_age must be a number of seconds (0 or more).");
        }

        // Scopes the client may not have (offline_access included, through the refresh grant's permission) were refused by
        // OpenIddict before this handler runs (OidcClientRegistry.Describe sets the permissions).
        var cookie = await context.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        var prompts = request.GetPromptValues();
        var step = AuthorizeFlow.SignInStep(
            prompts, request.MaxAge, cookie.Succeeded, cookie.Principal is { } p ? AuthenticationMethods.AuthTimeOf(p) : null, time.GetUtcNow());
        switch (step)
        {
            case AuthorizeStep.LoginRequired:
                return Refuse(Errors.LoginRequired, "The person is not signed in to the portal (or not recently enough).");
            case AuthorizeStep.SignIn:
                // Back here after the login, without what forced it (or it would force it again).
                var back = Rebuild(context, except: [Parameters.MaxAge], prompt: string.Join(' ', prompts.Where(v => v != PromptValues.Login)));
                return Results.Challenge(new AuthenticationProperties { RedirectUri = back }, [IdentityConstants.ApplicationScheme]);
        }

        var decision = ConsentDecision.None;
        if (HttpMethods.IsPost(context.Request.Method) && context.Request.HasFormContentType && context.Request.Form[ConsentField] is { Count: 1 } answer)
        {
            if (!await antiforgery.IsRequestValidAsync(context))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The consent form expired. Go back to the app and sign in again.");
            }

            decision = answer == "allow" ? ConsentDecision.Allowed : ConsentDecision.Denied;
        }

        var outcome = await authorization.AuthorizeAsync(cookie.Principal!, request, prompts, decision, context.RequestAborted);
        return outcome switch
        {
            { Principal: { } principal } => Results.SignIn(principal, authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme),
            { Step: AuthorizeStep.AskConsent } => Results.Redirect(ConsentPath + QueryString.Create(RequestParameters(context, ProtocolFields))),
            { Step: AuthorizeStep.SignIn } => Results.Challenge(
                new AuthenticationProperties { RedirectUri = Rebuild(context, except: [], prompt: null) }, [IdentityConstants.ApplicationScheme]),
            { Step: AuthorizeStep.ConsentRequired } => Refuse(Errors.ConsentRequired, "The person has not allowed this app yet."),
            _ => Refuse(Errors.AccessDenied, "The person did not allow this app."),
        };
    }

    private static async Task<IResult> TokenAsync(HttpContext context, OidcAuthorization authorization)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("OpenIddict did not handle this token request.");
        if (!request.IsAuthorizationCodeGrantType() && !request.IsRefreshTokenGrantType())
        {
            return Refuse(Errors.UnsupportedGrantType, "Only the authorization code and refresh token grants are supported.");
        }

        var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        if (request.IsRefreshTokenGrantType() && !await authorization.ClaimRefreshAsync(result.Principal!, context.RequestAborted))
        {
            return Refuse(Errors.InvalidGrant, "The refresh token was already used. Sign in again.");
        }

        var principal = await authorization.RenewAsync(result.Principal!, context.RequestAborted);
        return principal is null
            ? Refuse(Errors.InvalidGrant, "The sign-in is no longer valid: the account's security changed or it was signed out. Sign in again.")
            : Results.SignIn(principal, authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private static async Task<IResult> UserInfoAsync(HttpContext context, UserManager<PortalUser> users)
    {
        var result = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        var user = result.Principal?.GetClaim(Claims.Subject) is { } subject ? await users.FindByIdAsync(subject) : null;
        if (user is null)
        {
            return Results.Challenge(
                new AuthenticationProperties(new Dictionary<string, string?>
                {
                    [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidToken,
                    [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The account no longer exists.",
                }),
                [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        }

        return Results.Json(OidcPrincipal.UserInfo(result.Principal!, user));
    }

    /// <summary>
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2): signs the browser out of the portal and ends the
    /// app's sign-in named by <c>id_token_hint</c>. Without a hint for the signed-in account, the person confirms first, so
    /// a link from anywhere cannot sign them out. OpenIddict then sends the browser to the registered post-logout URI.
    /// </summary>
    private static async Task<IResult> EndSessionAsync(
        HttpContext context, SignInManager<PortalUser> signInManager, OidcAuthorization authorization, IAntiforgery antiforgery)
    {
        if (HasRepeatedParameter(context))
        {
            return Refuse(Errors.InvalidRequest, "A parameter appears more than once.");
        }

        var cookie = await context.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        if (cookie.Succeeded)
        {
            var hint = (await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme)).Principal;
            var userId = cookie.Principal!.FindFirstValue(ClaimTypes.NameIdentifier);
            var sameAccount = hint?.GetClaim(Claims.Subject) is { } subject && subject == userId;
            var confirmed = HttpMethods.IsPost(context.Request.Method) && context.Request.HasFormContentType
                && context.Request.Form[SignOutField] == "yes" && await antiforgery.IsRequestValidAsync(context);
            if (!sameAccount && !confirmed)
            {
                return Results.Redirect(SignOutPromptPath + QueryString.Create(RequestParameters(context, ProtocolFields)));
            }

            await signInManager.SignOutAsync();
            if (sameAccount && hint!.GetAuthorizationId() is { } grant)
            {
                await authorization.EndGrantAsync(userId!, grant, context.RequestAborted);
            }
        }

        return Results.SignOut(new AuthenticationProperties { RedirectUri = LoginPage.SignedOutUrl }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    private static IResult Refuse(string error, string description) => Results.Forbid(
        new AuthenticationProperties(new Dictionary<string, string?>
        {
            [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
            [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
        }),
        [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);

    /// <summary>Whether any parameter of the request (query or form) is given more than once.</summary>
    internal static bool HasRepeatedParameter(HttpContext context) =>
        context.Request.HasFormContentType
            ? context.Request.Form.Any(p => p.Value.Count > 1)
            : context.Request.Query.Any(p => p.Value.Count > 1);

    private static string? RawParameter(HttpContext context, string name) =>
        context.Request.HasFormContentType ? context.Request.Form[name].FirstOrDefault() : context.Request.Query[name].FirstOrDefault();

    /// <summary>The request's parameters (query or form), without the portal's own fields.</summary>
    private static List<KeyValuePair<string, string?>> RequestParameters(HttpContext context, IEnumerable<string> except)
    {
        var source = context.Request.HasFormContentType
            ? context.Request.Form.Select(p => KeyValuePair.Create(p.Key, p.Value))
            : context.Request.Query.Select(p => KeyValuePair.Create(p.Key, p.Value));
        var skipped = except.ToHashSet(StringComparer.Ordinal);
        return [.. source.Where(p => !skipped.Contains(p.Key)).SelectMany(p => p.Value.Select(v => KeyValuePair.Create(p.Key, v)))];
    }

    /// <summary>This authorization request again as a local GET URL, without <paramref name="except"/> and with <paramref name="prompt"/> as its prompt.</summary>
    private static string Rebuild(HttpContext context, string[] except, string? prompt)
    {
        var parameters = RequestParameters(context, [.. ProtocolFields, .. except, Parameters.Prompt]);
        if (!string.IsNullOrEmpty(prompt))
        {
            parameters.Add(KeyValuePair.Create<string, string?>(Parameters.Prompt, prompt));
        }
        else if (prompt is null && context.GetOpenIddictServerRequest()?.Prompt is { } original)
        {
            parameters.Add(KeyValuePair.Create<string, string?>(Parameters.Prompt, original));
        }

        return context.Request.PathBase + AuthorizePath + QueryString.Create(parameters);
    }
}
