using System.Text.Json;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Accounts.SignIn;

/// <summary>
/// The login page's "Sign in with a passkey" (and passkey autofill): two JSON posts from <c>Login.razor.js</c>, each
/// carrying the page's antiforgery token in the <c>RequestVerificationToken</c> header. A verified answer starts a
/// login session that is already verified and sets the pending-login cookie, exactly as the password step does, and
/// the page then goes to the one completion endpoint every login ends at (<see cref="LoginSessionService.CompletionPath"/>).
/// Both answer 404 when <see cref="PasskeyOptions.PasskeySignIn"/> is off.
/// </summary>
internal static class PasskeySignInEndpoints
{
    public const string OptionsPath = "/login/passkey/options";
    public const string SignInPath = "/login/passkey";

    // A sign-in answer is a few kilobytes; the JSON is refused past this before it is read.
    private const long MaxBodyBytes = 32 * 1024;

    public static IEndpointRouteBuilder MapPasskeySignIn(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("").DisableAntiforgery()
            .RequireRateLimiting(Apps.AppApiEndpoints.RateLimitPolicy)
            .WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .ExcludeFromDescription();
        group.MapPost(OptionsPath, OptionsAsync);
        group.MapPost(SignInPath, SignInAsync);
        return endpoints;
    }

    private static async Task<IResult> OptionsAsync(HttpContext context, PasskeySignIn signIn, IAntiforgery antiforgery, CancellationToken cancellationToken)
    {
        if (!signIn.Enabled)
        {
            return Results.NotFound();
        }

        if (!await antiforgery.IsRequestValidAsync(context))
        {
            return Problem(StatusCodes.Status400BadRequest, "Reload the page and try again.");
        }

        var start = await signIn.BeginAsync(null, cancellationToken);
        return start.Succeeded
            ? Results.Json(new SignInOptionsResponse(start.CeremonyId!, JsonDocument.Parse(start.OptionsJson!).RootElement))
            : Problem(StatusCodes.Status400BadRequest, start.Error!);
    }

    private static async Task<IResult> SignInAsync(
        SignInRequest? request, HttpContext context, PasskeySignIn signIn, LoginSessionService loginSessions, IAntiforgery antiforgery,
        IOptions<PasskeyOptions> passkeyOptions, CancellationToken cancellationToken)
    {
        if (!signIn.Enabled)
        {
            return Results.NotFound();
        }

        if (!await antiforgery.IsRequestValidAsync(context))
        {
            return Problem(StatusCodes.Status400BadRequest, "Reload the page and try again.");
        }

        StartedLogin? started = null;
        var credential = request?.Credential is { ValueKind: JsonValueKind.Object } json ? json.GetRawText() : null;
        var result = await signIn.CompleteAsync(
            null, request?.CeremonyId, credential, context.Connection.RemoteIpAddress,
            async (account, token) =>
            {
                started = await loginSessions.StartVerifiedAsync(
                    account.UserId, PasskeySignIn.FactorName, AuthenticationMethods.PasskeyAlone(account.PasskeyBackupEligible), request?.ReturnUrl,
                    LoginRequester.From(context), token);
                return true;
            },
            cancellationToken);
        switch (result.Outcome)
        {
            case PasskeySignInOutcome.SignedIn:
                PendingLoginCookie.Append(context, started!);
                return Results.Json(new SignInResponse(started!.NextUrl));
            case PasskeySignInOutcome.RateLimited:
                return Problem(StatusCodes.Status429TooManyRequests, result.Error!, result.RetryAfter);
            case PasskeySignInOutcome.LockedOut:
                return Problem(StatusCodes.Status423Locked, result.Error!, result.RetryAfter);
            case PasskeySignInOutcome.EmailNotVerified:
                return Problem(StatusCodes.Status403Forbidden, result.Error!);
            case PasskeySignInOutcome.UnknownCredential:
                // The browser's own credential id, so its passkey manager can forget it (Signal API, WebAuthn L3 §5.1.10.1).
                return Results.Json(
                    new SignInProblem(result.Error!, new UnknownCredential(passkeyOptions.Value.RelyingPartyId, CredentialIdOf(request))),
                    statusCode: StatusCodes.Status400BadRequest);
            default:
                return Problem(StatusCodes.Status400BadRequest, result.Error!);
        }
    }

    private static string? CredentialIdOf(SignInRequest? request) =>
        request?.Credential is { ValueKind: JsonValueKind.Object } credential
        && credential.TryGetProperty("rawId", out var rawId) && rawId.ValueKind == JsonValueKind.String
            ? rawId.GetString()
            : null;

    private static IResult Problem(int status, string error, TimeSpan? retryAfter = null) =>
        new SignInProblemResult(status, new SignInProblem(error, null), retryAfter);

    /// <summary>What the page posts: the ceremony from the options, the credential's <c>toJSON()</c>, and where to go after.</summary>
    internal sealed record SignInRequest(string? CeremonyId, JsonElement Credential, string? ReturnUrl);

    /// <summary>The ceremony to answer and its <c>PublicKeyCredentialRequestOptionsJSON</c>.</summary>
    internal sealed record SignInOptionsResponse(string CeremonyId, JsonElement Options);

    /// <summary>Where the browser goes next: the completion endpoint that signs it in.</summary>
    internal sealed record SignInResponse(string Next);

    /// <summary>A refusal: the message for the person and, for a credential no account has, what to signal.</summary>
    internal sealed record SignInProblem(string Error, UnknownCredential? UnknownCredential);

    /// <summary>The arguments of <c>PublicKeyCredential.signalUnknownCredential</c>.</summary>
    internal sealed record UnknownCredential(string RpId, string? CredentialId);

    private sealed class SignInProblemResult(int status, SignInProblem problem, TimeSpan? retryAfter) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            if (retryAfter is { } wait)
            {
                httpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))
                    .ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return Results.Json(problem, statusCode: status).ExecuteAsync(httpContext);
        }
    }
}
