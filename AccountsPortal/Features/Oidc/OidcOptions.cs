namespace AccountsPortal.Features.Oidc;

/// <summary>
/// The portal as an OpenID Connect provider (OpenID Connect Core 1.0, OAuth 2.0 RFC 6749 with PKCE RFC 7636). Section "Oidc".
/// Every lifetime is a <see cref="TimeSpan"/>; every limit is checked at start (<see cref="OidcOptionsValidation"/>).
/// </summary>
public sealed class OidcOptions
{
    public const string SectionName = "Oidc";

    /// <summary>The apps that may sign people in through the portal. Synchronised into the database at every start.</summary>
    public List<OidcClient> Clients { get; set; } = [];

    /// <summary>
    /// The issuer (<c>iss</c>) written into tokens and discovery, e.g. <c>https://accounts.example.com/</c>. Unset: the
    /// address each request came to, which is right behind one host name; set it when nodes are reached by several names.
    /// </summary>
    public Uri? Issuer { get; set; }

    /// <summary>How long an access token is accepted at userinfo and by APIs (default 10 minutes).</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an ID token is valid (default 10 minutes).</summary>
    public TimeSpan IdentityTokenLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an authorization code can be redeemed, once (default 60 seconds).</summary>
    public TimeSpan AuthorizationCodeLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a refresh token can be used, once (each use returns a new one; default 30 days).</summary>
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long one signing key (and one encryption key) is used before the next takes over (default 90 days).</summary>
    public TimeSpan KeyRotationInterval { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How often each node re-reads the key ring from the database (default 1 hour; at most a tenth of the rotation interval).</summary>
    public TimeSpan KeyRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// A PKCS#12 (.pfx) file whose certificate's private key signs tokens instead of the keys kept in the database; the
    /// operator rotates it. Optional, with <see cref="SigningCertificatePassword"/>.
    /// </summary>
    public string? SigningCertificatePath { get; set; }

    public string? SigningCertificatePassword { get; set; }

    /// <summary>A PKCS#12 (.pfx) file whose certificate's key encrypts authorization codes and refresh tokens instead of the database keys.</summary>
    public string? EncryptionCertificatePath { get; set; }

    public string? EncryptionCertificatePassword { get; set; }

    /// <summary>The <c>acr</c> value of a sign-in that used one factor (a password alone).</summary>
    public string SingleFactorAcr { get; set; } = "urn:accountsportal:acr:pwd";

    /// <summary>The <c>acr</c> value of a sign-in that used two factors (a password and a passkey or code, or a user-verifying passkey).</summary>
    public string MultiFactorAcr { get; set; } = "urn:accountsportal:acr:mfa";

    /// <summary>The longest time any token issued now may still be presented: keys stay published and accepted that long after retiring.</summary>
    public TimeSpan LongestTokenLifetime =>
        new[] { AccessTokenLifetime, IdentityTokenLifetime, AuthorizationCodeLifetime, RefreshTokenLifetime }.Max();
}

/// <summary>One app that signs people in through the portal (an OpenID Connect relying party).</summary>
public sealed class OidcClient
{
    public string ClientId { get; set; } = "";

    /// <summary>Shown on the consent page, in "Signed-in apps" and in emails.</summary>
    public string Name { get; set; } = "";

    /// <summary>Public (a SPA or native app: no secret, PKCE only) or Confidential (a server app with a secret).</summary>
    public OidcClientType Type { get; set; } = OidcClientType.Public;

    /// <summary>A confidential client's secret, at least 32 characters; stored hashed in the database, never for a public client.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>
    /// Exact redirect URIs (compared ordinally: a trailing slash or a different case is another URI): https, http on a
    /// loopback host (RFC 8252 §7.3, any port), or a native app's own scheme (RFC 8252 §7.1, e.g. <c>com.example.app:/callback</c>).
    /// </summary>
    public List<string> RedirectUris { get; set; } = [];

    /// <summary>Where end-session may send the browser after signing out, by the same rules.</summary>
    public List<string> PostLogoutRedirectUris { get; set; } = [];

    /// <summary>The scopes the client may ask for besides <c>openid</c>: any of profile, email, offline_access; unset, all three.</summary>
    /// <remarks>Null by default: configuration binding adds to a list that has items, so a default list could never be narrowed.</remarks>
    public List<string>? Scopes { get; set; }

    /// <summary><see cref="Scopes"/>, or all three when unset.</summary>
    public IReadOnlyList<string> AllowedScopes => Scopes ?? [.. OidcScopes.Optional];

    /// <summary>An app of the portal's operator: no consent page. Third-party apps (false) ask once per scope set.</summary>
    public bool FirstParty { get; set; }
}

public enum OidcClientType
{
    Public,
    Confidential,
}

/// <summary>The scopes the portal knows (OpenID Connect Core §5.4 and §11).</summary>
public static class OidcScopes
{
    public const string OpenId = "openid";
    public const string Profile = "profile";
    public const string Email = "email";
    public const string OfflineAccess = "offline_access";

    /// <summary>Scopes a client may be allowed besides openid, which every client has.</summary>
    public static readonly string[] Optional = [Profile, Email, OfflineAccess];

    /// <summary>What each scope lets the app see or do, as the consent page says it.</summary>
    public static string Describe(string scope) => scope switch
    {
        OpenId => "Know who you are (an identifier that stays the same)",
        Profile => "See your name as the portal knows it",
        Email => "See your email address and whether it is verified",
        OfflineAccess => "Stay signed in and use your account when you are not there",
        _ => scope,
    };
}
