using AccountsPortal.Data;
using Microsoft.Extensions.Options;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AccountsPortal.Features.Oidc;

public static class OidcExtensions
{
    /// <summary>
    /// The OpenID Connect provider (OpenIddict 7 server over the portal's database): authorization code flow with PKCE
    /// S256 for every client, rolling refresh tokens whose reuse revokes the sign-in's whole family, no implicit or
    /// password grant, keys from <see cref="OidcKeyRing"/>, clients from <see cref="OidcOptions.Clients"/>.
    /// </summary>
    public static WebApplicationBuilder AddOidc(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<OidcOptions>().Bind(builder.Configuration.GetSection(OidcOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OidcOptions>, OidcOptionsValidation>();

        services.AddOpenIddict()
            .AddCore(core => core.UseEntityFrameworkCore().UseDbContext<PortalDbContext>())
            .AddServer(server =>
            {
                server.SetAuthorizationEndpointUris(OidcEndpoints.AuthorizePath.TrimStart('/'))
                    .SetTokenEndpointUris(OidcEndpoints.TokenPath.TrimStart('/'))
                    .SetUserInfoEndpointUris(OidcEndpoints.UserInfoPath.TrimStart('/'))
                    .SetEndSessionEndpointUris(OidcEndpoints.EndSessionPath.TrimStart('/'))
                    .SetRevocationEndpointUris(OidcEndpoints.RevocationPath.TrimStart('/'))
                    .SetIntrospectionEndpointUris(OidcEndpoints.IntrospectionPath.TrimStart('/'))
                    .SetJsonWebKeySetEndpointUris(OidcEndpoints.JwksPath.TrimStart('/'));
                server.AllowAuthorizationCodeFlow().AllowRefreshTokenFlow();
                server.RequireProofKeyForCodeExchange();
                server.RegisterScopes(Scopes.Email, Scopes.Profile, Scopes.OfflineAccess);
                server.RegisterClaims(
                    Claims.Subject, Claims.Email, Claims.EmailVerified, Claims.PreferredUsername,
                    Claims.AuthenticationTime, Claims.AuthenticationMethodReference, Claims.AuthenticationContextReference);
                // Access tokens are signed JWTs that APIs can check against the JWKS; codes and refresh tokens stay encrypted.
                server.DisableAccessTokenEncryption();
                server.AddEventHandler<OpenIddictServerEvents.HandleConfigurationRequestContext>(handler => handler.UseSingletonHandler<AcrDiscovery>());
                server.AddEventHandler(RevokeFamilyOnReuse.Descriptor)
                    .AddEventHandler(ProtocolGuards.RevocationByPresenter)
                    .AddEventHandler(ProtocolGuards.IntrospectionByPresenter)
                    .AddEventHandler(ProtocolGuards.VerifierFormat);
                server.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableTokenEndpointPassthrough()
                    .EnableUserInfoEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough();
            });

        services.AddOptions<OpenIddictServerOptions>().Configure<IOptions<OidcOptions>, TimeProvider>((server, oidc, time) =>
        {
            server.TimeProvider = time;
            var o = oidc.Value;
            server.Issuer = o.Issuer;
            server.AccessTokenLifetime = o.AccessTokenLifetime;
            server.IdentityTokenLifetime = o.IdentityTokenLifetime;
            server.AuthorizationCodeLifetime = o.AuthorizationCodeLifetime;
            server.RefreshTokenLifetime = o.RefreshTokenLifetime;
            // A redeemed refresh token is never accepted again: its reuse revokes every token of that sign-in (RFC 9700 §4.14.2).
            server.RefreshTokenReuseLeeway = null;
            // Only S256 (RFC 7636 §4.2: "plain" only for clients that cannot hash).
            server.CodeChallengeMethods.Remove(CodeChallengeMethods.Plain);
        });
        // Served over plain http only on localhost (Passkeys:Origins allows nothing else), where tests and development run.
        // OpenIddict's stores prune and check expiry on the portal's clock too.
        services.AddOptions<OpenIddict.Core.OpenIddictCoreOptions>().Configure<TimeProvider>((core, time) => core.TimeProvider = time);
        services.AddOptions<OpenIddictServerAspNetCoreOptions>().Configure<IOptions<Passkeys.PasskeyOptions>>((aspNetCore, passkeys) =>
            aspNetCore.DisableTransportSecurityRequirement = passkeys.Value.Origins.FirstOrDefault()?.StartsWith("http://", StringComparison.Ordinal) == true);

        services.AddHttpContextAccessor();
        services.AddSingleton<Microsoft.AspNetCore.Authentication.IAuthenticationSchemeProvider, OidcRequestSchemes>();
        services.AddSingleton<OidcKeyRing>();
        services.AddSingleton<IConfigureOptions<OpenIddictServerOptions>>(provider => provider.GetRequiredService<OidcKeyRing>());
        services.AddSingleton<IOptionsChangeTokenSource<OpenIddictServerOptions>>(provider => provider.GetRequiredService<OidcKeyRing>());
        services.AddHostedService<OidcClientRegistry>();
        services.AddHostedService<OidcKeyRefresher>();
        services.AddSingleton<Components.IFormActionTargets, OidcFormTargets>();
        services.AddScoped<OidcGrants>();
        services.AddScoped<Accounts.Sessions.ISignedInApps>(provider => provider.GetRequiredService<OidcGrants>());
        services.AddScoped<OidcAuthorization>();
        return builder;
    }

    public static IEndpointRouteBuilder MapOidc(this IEndpointRouteBuilder endpoints) => endpoints.MapOidcEndpoints();

    /// <summary>
    /// Answers a protocol request whose form cannot be read (a NUL character, a malformed body) with <c>400
    /// invalid_request</c> instead of a server error: OpenIddict reads the form inside authentication, before any endpoint.
    /// Goes before <c>UseAuthentication</c>.
    /// </summary>
    public static IApplicationBuilder UseOidcProtocolErrors(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/connect"), connect => connect.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (InvalidDataException) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsJsonAsync(new Dictionary<string, string>
                {
                    ["error"] = Errors.InvalidRequest,
                    ["error_description"] = "The request's parameters cannot be read.",
                });
            }
        }));
}

/// <summary>The OpenID Connect clients' redirect targets, which the login and consent forms may lead to (CSP form-action).</summary>
internal sealed class OidcFormTargets(IOptions<OidcOptions> options) : Components.IFormActionTargets
{
    private readonly Lazy<string> sources = new(() => string.Join(' ', options.Value.Clients
        .SelectMany(c => c.RedirectUris.Concat(c.PostLogoutRedirectUris))
        .Select(uri => new Uri(uri, UriKind.Absolute))
        .Select(uri => uri.Scheme is "http" or "https" ? uri.GetLeftPart(UriPartial.Authority) : uri.Scheme + ":")
        .Distinct(StringComparer.Ordinal)));

    public string Sources => sources.Value;

    public bool IsProtocolEndpoint(PathString path) =>
        path.StartsWithSegments(OidcEndpoints.AuthorizePath) || path.StartsWithSegments(OidcEndpoints.EndSessionPath);
}

/// <summary>Adds <c>acr_values_supported</c> to discovery (OpenID Connect Discovery 1.0 §3): the two configured values.</summary>
internal sealed class AcrDiscovery(IOptions<OidcOptions> options) : IOpenIddictServerHandler<OpenIddictServerEvents.HandleConfigurationRequestContext>
{
    public ValueTask HandleAsync(OpenIddictServerEvents.HandleConfigurationRequestContext context)
    {
        context.Metadata[Metadata.AcrValuesSupported] = new OpenIddict.Abstractions.OpenIddictParameter(System.Collections.Immutable.ImmutableArray.Create<string?>(options.Value.SingleFactorAcr, options.Value.MultiFactorAcr));
        return default;
    }
}
