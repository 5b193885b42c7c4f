namespace AccountsPortal.Features.Confirmation;

public static class ConfirmationExtensions
{
    public static WebApplicationBuilder AddConfirmation(this WebApplicationBuilder builder)
    {
        builder.Services.AddScoped<Confirmations>();
        builder.Services.AddTransient<ConfirmationFlow>();
        builder.Services.AddScoped<ConfirmItsYou>();
        return builder;
    }
}
