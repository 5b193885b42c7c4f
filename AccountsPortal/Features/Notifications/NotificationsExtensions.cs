using AccountsPortal.Features.Activity;

namespace AccountsPortal.Features.Notifications;

public static class NotificationsExtensions
{
    public static WebApplicationBuilder AddNotifications(this WebApplicationBuilder builder)
    {
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddScoped<ActorContext>();
        builder.Services.AddScoped<KnownDevices>();
        builder.Services.AddScoped<ISecurityEventObserver, SecurityNotifications>();
        return builder;
    }
}
