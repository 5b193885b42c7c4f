using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Email;

public static class EmailExtensions
{
    /// <summary>
    /// Binds and checks <see cref="EmailOptions"/> (the app does not start with a bad one) and registers the
    /// outbox, the template and links, the sender (SMTP when <c>Email:Smtp:Host</c> is set, else the pickup
    /// directory) and the background <see cref="OutboxWorker"/>.
    /// </summary>
    public static WebApplicationBuilder AddEmail(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<EmailOptions>()
            .Bind(builder.Configuration.GetSection(EmailOptions.SectionName))
            .Validate(o => !string.IsNullOrWhiteSpace(o.PortalName) && !o.PortalName.Any(char.IsControl), "Email:PortalName must be one line of text.")
            .Validate(o => EmailOptions.IsSender(o.From), "Email:From must be one email address with a domain, e.g. \"AccountsPortal <no-reply@example.com>\".")
            .Validate(
                o => EmailOptions.IsPublicBaseUrl(o.PublicBaseUrl),
                "Email:PublicBaseUrl must be an absolute http:// or https:// URL without user info, query or fragment, e.g. https://accounts.example.com.")
            .Validate(o => !string.IsNullOrWhiteSpace(o.PickupDirectory), "Email:PickupDirectory must name a directory.")
            .Validate(o => o.Smtp.Port is > 0 and <= 65535, "Email:Smtp:Port must be between 1 and 65535.")
            .Validate(o => Enum.IsDefined(o.Smtp.Security), "Email:Smtp:Security must be None, StartTls, SslOnConnect or Auto.")
            .Validate(o => o.Smtp.Password is null || !string.IsNullOrEmpty(o.Smtp.User), "Email:Smtp:Password is set without Email:Smtp:User.")
            .Validate(o => o.MaxAttempts > 0, "Email:MaxAttempts must be positive.")
            .Validate(
                o => o.FirstRetryDelay > TimeSpan.Zero && o.MaxRetryDelay >= o.FirstRetryDelay,
                "Email:FirstRetryDelay must be positive and Email:MaxRetryDelay at least as long.")
            .Validate(o => o.PollInterval > TimeSpan.Zero, "Email:PollInterval must be positive.")
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<OutboxCommitInterceptor>();
        services.AddSingleton<Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor>(provider => provider.GetRequiredService<OutboxCommitInterceptor>());
        services.AddScoped<EmailOutbox>();
        services.AddSingleton<EmailLinks>();
        services.AddSingleton<EmailTemplate>();
        services.AddSingleton<EmailMessageFactory>();
        services.AddSingleton<PickupDirectorySender>();
        services.AddSingleton<SmtpEmailSender>();
        // Chosen when first asked for, so that configuration added by hosts and tests is seen.
        services.AddScoped<IEmailSender>(provider => provider.GetRequiredService<IOptions<EmailOptions>>().Value.UsesSmtp
            ? provider.GetRequiredService<SmtpEmailSender>()
            : provider.GetRequiredService<PickupDirectorySender>());
        services.AddScoped<OutboxDispatcher>();
        services.AddHostedService<OutboxWorker>();
        return builder;
    }
}
