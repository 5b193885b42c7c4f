using AccountsPortal.Components;
using AccountsPortal.Features.Accounts.LoginSessions;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace AccountsPortal.Features.Accounts;

/// <summary>The HTTP endpoints of accounts: the only places where sign-in cookies are set or cleared.</summary>
internal static class AccountEndpoints
{
    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var account = endpoints.MapGroup("/account");

        account.MapGet("/complete-sign-in", CompleteSignInAsync);
        account.MapPost("/logout", LogOutAsync).RequireAntiforgeryToken();
        account.MapPost("/recovery-key/saved", ConfirmRecoveryKeySavedAsync).RequireAntiforgeryToken();

        return endpoints;
    }

    /// <summary>Signs in the browser that started a verified login session, exactly once.</summary>
    private static async Task<IResult> CompleteSignInAsync(
        [FromQuery] string? session, HttpContext context, LoginCompletion completion, CancellationToken cancellationToken) =>
        Results.LocalRedirect(await completion.CompleteAsync(context, session, cancellationToken) ?? LoginPage.ExpiredSessionUrl);

    private static async Task<IResult> LogOutAsync(SignInManager<PortalUser> signInManager)
    {
        await signInManager.SignOutAsync();
        return Results.LocalRedirect(LoginPage.SignedOutUrl);
    }

    /// <summary>The recovery key screen's "Continue": only after the person confirmed they saved the key.</summary>
    private static async Task<IResult> ConfirmRecoveryKeySavedAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        if (form["saved"] != "on")
        {
            return Results.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                title: "Confirm that you have saved your recovery key before continuing.");
        }

        return Results.LocalRedirect(LocalReturnUrl.Sanitize(form["returnUrl"]));
    }
}
