using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Features.Accounts.SignUp;
using AccountsPortal.Features.Accounts.Sessions;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AccountsPortal.Features.Accounts;

public static class AccountsExtensions
{
    public static WebApplicationBuilder AddAccounts(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);

        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, SecurityStampRevalidation>();
        services.AddAuthentication(IdentityConstants.ApplicationScheme).AddIdentityCookies();
        services.AddAuthorization();

        services.AddIdentityCore<PortalUser>(ConfigureIdentityDefaults)
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders()
            .AddTokenProvider<Passwords.TimedTokenProvider>(Passwords.TimedTokenProvider.ProviderName);
        // Operators may override any of the defaults above from the "Identity" section.
        services.Configure<IdentityOptions>(builder.Configuration.GetSection("Identity"));

        services.AddSingleton<BrowserSessionStore>();
        services.AddScoped<SignedInSessions>();
        services.AddScoped<RecentConfirmation>();
        services.AddOptions<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme)
            .Configure<BrowserSessionStore>((cookie, store) => cookie.SessionStore = store);
        services.AddOptions<SecurityOptions>()
            .Bind(builder.Configuration.GetSection(SecurityOptions.SectionName))
            .Validate(
                o => o.SessionRevalidationInterval > TimeSpan.Zero && o.SessionRevalidationInterval <= SecurityOptions.MaxSessionRevalidationInterval,
                "Security:SessionRevalidationInterval must be more than zero and at most one minute.")
            .Validate(o => o.ReauthenticationWindow > TimeSpan.Zero, "Security:ReauthenticationWindow must be more than zero.")
            .ValidateOnStart();
        services.AddOptions<SecurityStampValidatorOptions>().Configure<Microsoft.Extensions.Options.IOptions<SecurityOptions>>((validator, security) =>
        {
            // Every request of a browser re-checks its stamp at least this often (the session store checks at once).
            validator.ValidationInterval = security.Value.SessionRevalidationInterval;
            validator.OnRefreshingPrincipal = context =>
            {
                // Keep the browser session id ("this browser" and remote sign-out depend on it) and how and when the browser
                // signed in (ID tokens report them): the refreshed principal is built from the account alone.
                if (context.CurrentPrincipal is { } current && context.NewPrincipal?.Identity is System.Security.Claims.ClaimsIdentity identity)
                {
                    foreach (var kept in new[] { BrowserSessionStore.SessionIdClaim, AuthenticationMethods.ClaimType, AuthenticationMethods.AuthTimeClaimType })
                    {
                        if (identity.FindFirst(kept) is null)
                        {
                            identity.AddClaims(current.FindAll(kept).Select(claim => new System.Security.Claims.Claim(claim.Type, claim.Value, claim.ValueType)));
                        }
                    }
                }

                return Task.CompletedTask;
            };
        });
        // Served over https, the sign-in cookie is Secure and __Host- prefixed: no sibling subdomain can set it.
        services.AddOptions<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme)
            .PostConfigure<Microsoft.Extensions.Options.IOptions<Passkeys.PasskeyOptions>>((cookie, passkeys) =>
            {
                if (passkeys.Value.Origins.FirstOrDefault()?.StartsWith("https://", StringComparison.Ordinal) == true)
                {
                    cookie.Cookie.Name = SecretCookies.HostPrefix + LoginCompletion.AuthCookieName;
                    cookie.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                    cookie.Cookie.Path = "/";
                }
            });
        services.ConfigureApplicationCookie(cookie =>
        {
            cookie.Cookie.Name = LoginCompletion.AuthCookieName;
            cookie.Cookie.SameSite = SameSiteMode.Lax;
            cookie.LoginPath = LoginPage.Path;
            cookie.ReturnUrlParameter = "returnUrl";
            cookie.AccessDeniedPath = LoginPage.Path;
        });

        services.Configure<LoginSessionOptions>(builder.Configuration.GetSection(LoginSessionOptions.SectionName));
        services.AddOptions<RateLimitOptions>()
            .Bind(builder.Configuration.GetSection(RateLimitOptions.SectionName))
            .Validate(o => o.RequestsPerMinutePerIp > 0 && o.AttemptsPerMinutePerAccount > 0, "RateLimits values must be positive.")
            .ValidateOnStart();
        services.AddSingleton<IpRateLimiter>();
        services.AddScoped<AttemptRateLimiter>();
        services.AddScoped<AttemptLimits>();
        services.AddScoped<LoginApprovals>();
        services.AddScoped<AccountSecurity>();
        services.AddScoped<SecondFactorDirectory>();
        services.AddScoped<LoginSessionService>();
        services.AddScoped<LoginCompletion>();
        services.AddScoped<PasswordSignIn>();
        services.AddScoped<Passwords.PasswordChanges>();
        services.AddScoped<AccountRegistration>();
        services.AddScoped<EmailAddresses.EmailVerifications>();
        services.AddScoped<EmailAddresses.VerifiedSignIn>();
        services.AddScoped<EmailAddresses.EmailChanges>();
        services.AddScoped<RecoveryKeyService>();
        services.AddSingleton<RecoveryKeyHandoff>();
        return builder;
    }

    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapAccountEndpoints().MapPasskeySignIn();

    private static void ConfigureIdentityDefaults(IdentityOptions options)
    {
        options.User.RequireUniqueEmail = true;
        // The user name is the email, so allow every character an email may hold.
        options.User.AllowedUserNameCharacters = string.Empty;
        options.SignIn.RequireConfirmedAccount = false;
        // Reset links expire on the portal's clock (one hour) and work once.
        options.Tokens.PasswordResetTokenProvider = Passwords.TimedTokenProvider.ProviderName;

        // Length over composition rules: long passphrases are both easier to remember and harder to guess.
        options.Password.RequiredLength = 12;
        options.Password.RequiredUniqueChars = 4;
        options.Password.RequireDigit = false;
        options.Password.RequireLowercase = false;
        options.Password.RequireUppercase = false;
        options.Password.RequireNonAlphanumeric = false;

        options.Lockout.AllowedForNewUsers = true;
        options.Lockout.MaxFailedAccessAttempts = 5;
        options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
    }
}
