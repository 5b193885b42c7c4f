using Microsoft.AspNetCore.Antiforgery;

namespace AccountsPortal.Components;

/// <summary>Endpoints that receive the plain form posts of the portal's pages (sign out, theme, ...).</summary>
internal static class FormPostEndpoints
{
    public const string ExpiredFormMessage = "This form has expired. Reload the page and try again.";

    /// <summary>
    /// Validates the antiforgery token and answers 400 when it is missing or wrong. Handlers read the
    /// form themselves, after this filter: binding [FromForm] parameters would throw (a 500) first.
    /// </summary>
    public static TBuilder RequireAntiforgeryToken<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new RequireAntiforgeryTokenAttribute());
        builder.AddEndpointFilter(async (context, next) =>
            context.HttpContext.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false }
                ? Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: ExpiredFormMessage)
                : await next(context));
        return builder;
    }
}
