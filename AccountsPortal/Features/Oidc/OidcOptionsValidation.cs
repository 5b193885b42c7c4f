using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Oidc;

/// <summary>Checks the "Oidc" section at start: the portal refuses to run with a client or lifetime it cannot honour safely.</summary>
public sealed class OidcOptionsValidation : IValidateOptions<OidcOptions>
{
    /// <summary>The shortest secret a confidential client may have (characters).</summary>
    public const int MinSecretLength = 32;

    public ValidateOptionsResult Validate(string? name, OidcOptions options)
    {
        var failures = new List<string>();
        foreach (var client in options.Clients)
        {
            var label = string.IsNullOrWhiteSpace(client.ClientId) ? "An Oidc:Clients entry" : $"Oidc client '{client.ClientId}'";
            if (string.IsNullOrWhiteSpace(client.ClientId) || string.IsNullOrWhiteSpace(client.Name))
            {
                failures.Add($"{label} needs a ClientId and a Name.");
            }

            switch (client.Type)
            {
                case OidcClientType.Confidential when (client.ClientSecret?.Length ?? 0) < MinSecretLength:
                    failures.Add($"{label} is Confidential: its ClientSecret must be at least {MinSecretLength} characters.");
                    break;
                case OidcClientType.Public when !string.IsNullOrEmpty(client.ClientSecret):
                    failures.Add($"{label} is Public: it cannot keep a secret, so it must not have a ClientSecret (PKCE protects it).");
                    break;
            }

            if (client.RedirectUris.Count == 0)
            {
                failures.Add($"{label} needs at least one RedirectUris entry.");
            }

            foreach (var uri in client.RedirectUris.Concat(client.PostLogoutRedirectUris))
            {
                if (Apps.ClientApps.ValidateRedirectUri(uri) is { } problem)
                {
                    failures.Add($"{label}: {problem} (https, http on a loopback host, or an app's own scheme only)");
                }
            }

            foreach (var scope in client.AllowedScopes.Where(s => !OidcScopes.Optional.Contains(s, StringComparer.Ordinal)))
            {
                failures.Add($"{label} asks for the scope '{scope}'; allowed: {string.Join(", ", OidcScopes.Optional)} (openid is always allowed).");
            }
        }

        failures.AddRange(options.Clients.Where(c => !string.IsNullOrWhiteSpace(c.ClientId)).GroupBy(c => c.ClientId, StringComparer.Ordinal)
            .Where(g => g.Count() > 1).Select(g => $"Oidc:Clients has the ClientId '{g.Key}' twice."));

        var lifetimes = new (string Name, TimeSpan Value)[]
        {
            (nameof(options.AccessTokenLifetime), options.AccessTokenLifetime),
            (nameof(options.IdentityTokenLifetime), options.IdentityTokenLifetime),
            (nameof(options.AuthorizationCodeLifetime), options.AuthorizationCodeLifetime),
            (nameof(options.RefreshTokenLifetime), options.RefreshTokenLifetime),
            (nameof(options.KeyRotationInterval), options.KeyRotationInterval),
            (nameof(options.KeyRefreshInterval), options.KeyRefreshInterval),
        };
        failures.AddRange(lifetimes.Where(l => l.Value <= TimeSpan.Zero).Select(l => $"Oidc:{l.Name} must be more than zero."));
        if (options.KeyRefreshInterval > TimeSpan.Zero && options.KeyRotationInterval > TimeSpan.Zero && options.KeyRefreshInterval * 10 > options.KeyRotationInterval)
        {
            failures.Add("Oidc:KeyRefreshInterval must be at most a tenth of Oidc:KeyRotationInterval, so every node knows the next key long before it is used.");
        }

        foreach (var (setting, path) in new[] { ("SigningCertificatePath", options.SigningCertificatePath), ("EncryptionCertificatePath", options.EncryptionCertificatePath) })
        {
            if (!string.IsNullOrEmpty(path) && !File.Exists(path))
            {
                failures.Add($"Oidc:{setting} names '{path}', which does not exist.");
            }
        }

        if (string.IsNullOrWhiteSpace(options.SingleFactorAcr) || string.IsNullOrWhiteSpace(options.MultiFactorAcr))
        {
            failures.Add("Oidc:SingleFactorAcr and Oidc:MultiFactorAcr must not be empty.");
        }

        if (options.Issuer is { } issuer && (!issuer.IsAbsoluteUri || issuer.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(issuer.Query) || !string.IsNullOrEmpty(issuer.Fragment)))
        {
            failures.Add("Oidc:Issuer must be an absolute http(s) URL without a query or fragment.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
