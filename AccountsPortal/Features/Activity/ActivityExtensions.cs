namespace AccountsPortal.Features.Activity;

public static class ActivityExtensions
{
    public static WebApplicationBuilder AddActivity(this WebApplicationBuilder builder)
    {
        builder.Services.AddScoped<SecurityEvents>();
        return builder;
    }
}
