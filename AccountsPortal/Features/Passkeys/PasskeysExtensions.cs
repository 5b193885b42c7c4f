using AccountsPortal.Features.Accounts;
using Fido2NetLib;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>The passkeys feature: its settings, services and endpoints.</summary>
public static class PasskeysExtensions
{
    public static WebApplicationBuilder AddPasskeys(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<PasskeyOptions>()
            .Bind(builder.Configuration.GetSection(PasskeyOptions.SectionName))
            .Validate(o => o.Origins.Count > 0, "Passkeys:Origins must list the exact origins (scheme://host:port) the portal is served from.")
            .Validate(
                o => o.Origins.All(PasskeyRelyingParty.IsSerializedOrigin),
                "Passkeys:Origins must be written as browsers send them: scheme://host[:port], lower-case host, no default port, no path or trailing slash.")
            .Validate(
                o => o.RelatedOrigins.All(PasskeyRelyingParty.IsSerializedOrigin),
                "Passkeys:RelatedOrigins must be written as browsers send them: scheme://host[:port], lower-case host, no default port, no path or trailing slash.")
            .Validate(o => o.MaxPasskeysPerUser > 0 && o.MaxNameLength > 0, "Passkeys limits must be positive.")
            .Validate(
                o => o.MaxPasskeysPerUser <= PasskeyChallenges.MaxOfferedCredentials,
                $"Passkeys:MaxPasskeysPerUser can be at most {PasskeyChallenges.MaxOfferedCredentials}.")
            .Validate(o => o.MaxNameLength <= PasskeyName.MaxBytes, $"Passkeys:MaxNameLength can be at most {PasskeyName.MaxBytes}.")
            .ValidateOnStart();

        // Relying party id and origins come from configuration only, never from the request's Host header.
        services.AddSingleton<IFido2>(provider =>
            new Fido2(PasskeyRelyingParty.Configuration(provider.GetRequiredService<IOptions<PasskeyOptions>>().Value)));
        services.AddSingleton<PasskeyRelyingParty>();
        // Read now, so that a list that cannot be read stops the start with one line (PortalStartupException).
        services.AddSingleton(Providers.PasskeyProviders.LoadShipped());
        services.AddSingleton<RelatedOriginsDocument>();
        services.AddSingleton<PasskeyChallenges>();
        services.AddScoped<PasskeyCeremonies>();
        services.AddScoped<PasskeyRegistration>();
        services.AddScoped<PasskeyAssertions>();
        services.AddScoped<PasskeyLogin>();
        services.AddScoped<PasskeySignIn>();
        services.AddScoped<PasskeyManagement>();
        services.AddScoped<PasskeyBrowser>();
        services.AddScoped<PasskeySignals>();
        services.AddScoped<ISecondFactor, PasskeySecondFactor>();
        return builder;
    }

    /// <summary>Maps the feature's endpoints: the related origins document (<see cref="RelatedOriginsDocument"/>).</summary>
    public static IEndpointRouteBuilder MapPasskeys(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(RelatedOriginsDocument.Path, (RelatedOriginsDocument document, HttpResponse response) => document.Answer(response))
            .AllowAnonymous()
            .ExcludeFromDescription();
        return endpoints;
    }
}
