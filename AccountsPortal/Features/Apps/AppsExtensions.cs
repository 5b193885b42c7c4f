using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.RateLimiting;

namespace AccountsPortal.Features.Apps;

public static class AppsExtensions
{
    public static WebApplicationBuilder AddApps(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AppsOptions>()
            .Bind(builder.Configuration.GetSection(AppsOptions.SectionName))
            .Validate(o => o.Clients.All(c => !string.IsNullOrWhiteSpace(c.ClientId) && !string.IsNullOrWhiteSpace(c.Name)), "Every Apps:Clients entry needs a ClientId and a Name.")
            .Validate(o => o.Clients.GroupBy(c => c.ClientId).All(g => g.Count() == 1), "Apps:Clients has a ClientId twice.")
            .Validate(o => o.Clients.SelectMany(c => c.RedirectUris).All(uri => ClientApps.ValidateRedirectUri(uri) is null), "Apps:Clients has an unsafe redirect URI (https, http on localhost, or an app's own scheme only).")
            .ValidateOnStart();

        services.AddSingleton<ClientApps>();
        services.AddSingleton<Accounts.IClientAppNames>(provider => provider.GetRequiredService<ClientApps>());
        services.AddScoped<AppTokens>();
        services.AddScoped<AppLogins>();
        services.AddScoped<Accounts.Sessions.ISignedInApps, SignedInApps>();

        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, AppTokenAuthentication>(AppTokenAuthentication.SchemeName, null);

        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(AppApiEndpoints.RateLimitPolicy, context =>
            {
                var perMinute = context.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Accounts.Attempts.RateLimitOptions>>().Value.RequestsPerMinutePerIp;
                return RateLimitPartition.GetFixedWindowLimiter(
                    Accounts.Attempts.ClientAddress.PartitionKey(context.Connection.RemoteIpAddress),
                    _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 });
            });
            limiter.OnRejected = (context, cancellationToken) =>
            {
                var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromMinutes(1);
                return new ValueTask(ApiProblems.Problem(StatusCodes.Status429TooManyRequests, ApiProblems.RateLimited, "Too many requests. Wait and try again.", wait)
                    .ExecuteAsync(context.HttpContext));
            };
        });

        services.AddOpenApi();
        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            // Problems the framework writes itself (unreadable JSON, a body over the size limit) get a code too.
            if (!context.ProblemDetails.Extensions.ContainsKey("code"))
            {
                context.ProblemDetails.Extensions["code"] = context.ProblemDetails.Status switch
                {
                    StatusCodes.Status413PayloadTooLarge => "PAYLOAD_TOO_LARGE",
                    StatusCodes.Status401Unauthorized => ApiProblems.InvalidToken,
                    StatusCodes.Status404NotFound => "NOT_FOUND",
                    _ => ApiProblems.InvalidRequest,
                };
            }
        });
        return builder;
    }

    public static WebApplication MapApps(this WebApplication app)
    {
        app.MapOpenApi();
        app.MapAppApi();
        return app;
    }
}
