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
        account.MapPost("/login-approval", DecideLoginApprovalAsync).RequireAntiforgeryToken();
        account.MapPost("/logout", LogOutAsync).RequireAntiforgeryToken();
        account.MapPost("/recovery-key/saved", ConfirmRecoveryKeySavedAsync).RequireAntiforgeryToken();

        return endpoints;
    }

    /// <summary>Signs in the browser that started a verified login session, exactly once.</summary>
    private static async Task<IResult> CompleteSignInAsync(
        [FromQuery] string? session, [FromQuery] string? returnUrl, [FromQuery] string? fresh, HttpContext context, LoginCompletion completion,
        CancellationToken cancellationToken) =>
        Results.LocalRedirect(await completion.CompleteAsync(context, session, returnUrl, fresh == "1", cancellationToken) ?? LoginPage.ExpiredSessionUrl);

    /// <summary>
    /// A device asked to approve a login picked a number (or "This wasn't me"). The right number sets its
    /// approval cookie; anything else ends the login. Either way it goes back to the page it came from.
    /// </summary>
    private static async Task<IResult> DecideLoginApprovalAsync(HttpContext context, LoginApprovals approvals, CancellationToken cancellationToken)
    {
        var form = await context.Request.ReadFormAsync(cancellationToken);
        var back = LocalReturnUrl.Sanitize(form["returnUrl"]);
        int? pick = int.TryParse(form["pick"], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            ? number
            : null;
        if (pick is null && form["pick"] != LoginApprovalForm.NotMe)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Pick one of the numbers, or choose \"This wasn't me\".");
        }

        var decision = await approvals.DecideAsync(form["session"], pick, LoginRequester.From(context), cancellationToken);
        switch (decision.Outcome)
        {
            case ApprovalOutcome.Approved:
                LoginApprovalCookie.Append(context, decision.Secret!, decision.ExpiresAt!.Value);
                break;
            case ApprovalOutcome.RateLimited:
                back = LoginApprovalForm.WithNotice(back, LoginApprovalForm.RateLimitedNotice);
                break;
        }

        return Results.LocalRedirect(back);
    }

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
