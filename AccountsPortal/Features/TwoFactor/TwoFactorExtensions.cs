using AccountsPortal.Features.Accounts;

namespace AccountsPortal.Features.TwoFactor;

public static class TwoFactorExtensions
{
    public static WebApplicationBuilder AddTwoFactor(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<TwoFactorOptions>()
            .Bind(builder.Configuration.GetSection(TwoFactorOptions.SectionName))
            .Validate(o => o.MaxFailedAttempts > 0 && o.LockoutDuration > TimeSpan.Zero, "TwoFactor limits must be positive.")
            .ValidateOnStart();
        services.AddSingleton<TotpSecrets>();
        services.AddScoped<SecondFactorLockout>();
        services.AddScoped<TotpSetup>();
        services.AddScoped<TotpCodeCheck>();
        services.AddScoped<TotpLogin>();
        services.AddScoped<TwoFactorRecovery>();
        services.AddScoped<ISecondFactor, TotpSecondFactor>();
        return builder;
    }
}
