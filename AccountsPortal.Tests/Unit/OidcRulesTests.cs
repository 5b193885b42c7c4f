using AccountsPortal.Features.Oidc;

namespace AccountsPortal.Tests.Unit;

/// <summary>The OpenID Connect provider's decisions without HTTP: prompt, max_age and consent; and what configuration it refuses.</summary>
public sealed class OidcRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("", null, true, 60, AuthorizeStep.Continue)]
    [InlineData("", null, false, null, AuthorizeStep.SignIn)]
    [InlineData("none", null, false, null, AuthorizeStep.LoginRequired)]
    [InlineData("none", null, true, 60, AuthorizeStep.Continue)]
    [InlineData("login", null, true, 1, AuthorizeStep.SignIn)]
    [InlineData("none login", null, true, 1, AuthorizeStep.LoginRequired)]
    [InlineData("", 300L, true, 299, AuthorizeStep.Continue)]
    [InlineData("", 300L, true, 301, AuthorizeStep.SignIn)]
    [InlineData("", 0L, true, 1, AuthorizeStep.SignIn)]
    [InlineData("none", 300L, true, 301, AuthorizeStep.LoginRequired)]
    [InlineData("", 300L, true, null, AuthorizeStep.SignIn)]
    [InlineData("", long.MaxValue, true, 10, AuthorizeStep.Continue)]
    [InlineData("", -1L, true, 0, AuthorizeStep.SignIn)]
    public void Prompt_and_max_age_decide_whether_the_browser_signs_in_again(string prompt, long? maxAge, bool signedIn, int? secondsAgo, AuthorizeStep expected)
    {
        var prompts = prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        DateTimeOffset? authTime = secondsAgo is { } ago ? Now.AddSeconds(-ago) : null;
        Assert.Equal(expected, AuthorizeFlow.SignInStep(prompts, maxAge, signedIn, authTime, Now));
    }

    [Theory]
    [InlineData("", true, false, ConsentDecision.None, AuthorizeStep.Issue)]
    [InlineData("", false, true, ConsentDecision.None, AuthorizeStep.Issue)]
    [InlineData("", false, false, ConsentDecision.None, AuthorizeStep.AskConsent)]
    [InlineData("consent", false, true, ConsentDecision.None, AuthorizeStep.AskConsent)]
    [InlineData("none", false, false, ConsentDecision.None, AuthorizeStep.ConsentRequired)]
    [InlineData("", false, false, ConsentDecision.Allowed, AuthorizeStep.RecordConsentAndIssue)]
    [InlineData("", false, false, ConsentDecision.Denied, AuthorizeStep.AccessDenied)]
    [InlineData("", true, false, ConsentDecision.Denied, AuthorizeStep.AccessDenied)]
    public void Consent_is_asked_of_third_party_apps_once_per_scope_set(string prompt, bool firstParty, bool consented, ConsentDecision decision, AuthorizeStep expected) =>
        Assert.Equal(expected, AuthorizeFlow.ConsentStep(prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries), firstParty, consented, decision));

    public static TheoryData<string, Action<OidcClient>> BadClients => new()
    {
        { "needs a ClientId and a Name", c => c.Name = "" },
        { "its ClientSecret must be at least 32 characters", c => (c.Type, c.ClientSecret) = (OidcClientType.Confidential, "short") },
        { "must not have a ClientSecret", c => c.ClientSecret = new string('s', 40) },
        { "needs at least one RedirectUris entry", c => c.RedirectUris.Clear() },
        { "uses http for a host other than localhost", c => c.RedirectUris.Add("http://app.example.com/callback") },
        { "has a fragment", c => c.RedirectUris.Add("https://app.example.com/callback#x") },
        { "uses the javascript scheme", c => c.PostLogoutRedirectUris.Add("javascript:alert(1)") },
        { "asks for the scope 'admin'", c => c.Scopes = ["email", "admin"] },
    };

    [Theory]
    [MemberData(nameof(BadClients))]
    public void A_client_the_portal_cannot_serve_safely_is_refused_with_the_reason(string reason, Action<OidcClient> spoil)
    {
        var client = GoodClient();
        spoil(client);
        var result = new OidcOptionsValidation().Validate(null, new OidcOptions { Clients = [client] });
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, failure => failure.Contains(reason, StringComparison.Ordinal));
    }

    [Fact]
    public void Good_clients_lifetimes_and_keys_pass_and_bad_ones_are_named()
    {
        Assert.True(new OidcOptionsValidation().Validate(null, new OidcOptions { Clients = [GoodClient(), Confidential()] }).Succeeded);

        var result = new OidcOptionsValidation().Validate(null, new OidcOptions
        {
            Clients = [GoodClient(), GoodClient()],
            RefreshTokenLifetime = TimeSpan.Zero,
            KeyRefreshInterval = TimeSpan.FromDays(30),
            SigningCertificatePath = "/no/such/file.pfx",
            Issuer = new Uri("https://accounts.example.com/?x=1"),
        });
        Assert.Contains(result.Failures!, f => f.Contains("has the ClientId 'app' twice", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Oidc:RefreshTokenLifetime must be more than zero", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("at most a tenth of Oidc:KeyRotationInterval", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("'/no/such/file.pfx', which does not exist", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Oidc:Issuer must be an absolute http(s) URL", StringComparison.Ordinal));
    }

    [Fact]
    public void Scopes_left_unset_allow_all_three_and_a_configured_list_narrows_them()
    {
        Assert.Equal(OidcScopes.Optional, GoodClient().AllowedScopes);
        Assert.Equal(["email"], new OidcClient { Scopes = ["email"] }.AllowedScopes);
    }

    [Fact]
    public void Every_client_gets_PKCE_the_code_flow_and_exact_redirect_URIs_and_only_a_confidential_one_introspection()
    {
        var spa = OidcClientRegistry.Describe(GoodClient());
        Assert.Contains(OpenIddict.Abstractions.OpenIddictConstants.Requirements.Features.ProofKeyForCodeExchange, spa.Requirements);
        Assert.Contains(OpenIddict.Abstractions.OpenIddictConstants.Permissions.ResponseTypes.Code, spa.Permissions);
        Assert.DoesNotContain(spa.Permissions, p => p.Contains("implicit", StringComparison.Ordinal) || p.Contains("password", StringComparison.Ordinal)
            || p == OpenIddict.Abstractions.OpenIddictConstants.Permissions.ResponseTypes.Token);
        Assert.DoesNotContain(OpenIddict.Abstractions.OpenIddictConstants.Permissions.Endpoints.Introspection, spa.Permissions);
        Assert.Null(spa.ClientSecret);
        Assert.Equal(["http://localhost:7891/callback"], spa.RedirectUris.Select(u => u.AbsoluteUri));

        var server = OidcClientRegistry.Describe(Confidential());
        Assert.Contains(OpenIddict.Abstractions.OpenIddictConstants.Permissions.Endpoints.Introspection, server.Permissions);
        Assert.Equal(OpenIddict.Abstractions.OpenIddictConstants.ConsentTypes.Explicit, server.ConsentType);
    }

    private static OidcClient GoodClient() => new()
    {
        ClientId = "app",
        Name = "App",
        FirstParty = true,
        RedirectUris = ["http://localhost:7891/callback"],
        PostLogoutRedirectUris = ["com.example.app:/signed-out"],
    };

    private static OidcClient Confidential() => new()
    {
        ClientId = "server",
        Name = "Server",
        Type = OidcClientType.Confidential,
        ClientSecret = new string('x', 32),
        RedirectUris = ["https://app.example.com/signin-oidc"],
    };
}
