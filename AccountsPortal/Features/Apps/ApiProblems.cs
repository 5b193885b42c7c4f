using System.Globalization;

namespace AccountsPortal.Features.Apps;

/// <summary>RFC 7807 problem details with a stable machine-readable <c>code</c>, for every error of the app API.</summary>
public static class ApiProblems
{
    public const string InvalidRequest = "INVALID_REQUEST";
    public const string UnknownClient = "UNKNOWN_CLIENT";
    public const string InvalidRedirectUri = "INVALID_REDIRECT_URI";
    public const string InvalidCredentials = "INVALID_CREDENTIALS";
    public const string AccountLocked = "ACCOUNT_LOCKED";
    public const string RateLimited = "RATE_LIMITED";
    public const string SessionNotFound = "SESSION_NOT_FOUND";
    public const string SessionExpired = "SESSION_EXPIRED";
    public const string LoginRefused = "LOGIN_REFUSED";
    public const string SessionAlreadyClaimed = "SESSION_ALREADY_CLAIMED";
    public const string InvalidCode = "INVALID_CODE";
    public const string PasskeyNotVerified = "PASSKEY_NOT_VERIFIED";
    public const string PasskeyRequired = "PASSKEY_REQUIRED";
    public const string WrongSecondFactor = "WRONG_SECOND_FACTOR";
    public const string InvalidToken = "INVALID_TOKEN";
    public const string EmailNotVerified = "EMAIL_NOT_VERIFIED";

    /// <summary>A passkey sign-in answer from a credential no account has (deleted, or registered elsewhere).</summary>
    public const string UnknownPasskey = "UNKNOWN_PASSKEY";

    /// <summary>Passkey sign-in is turned off (<c>Passkeys:PasskeySignIn</c>).</summary>
    public const string PasskeySignInOff = "PASSKEY_SIGN_IN_OFF";

    public static IResult Problem(int status, string code, string title, TimeSpan? retryAfter = null) =>
        new ProblemWithRetryAfter(
            TypedResults.Problem(statusCode: status, title: title, extensions: new Dictionary<string, object?> { ["code"] = code }),
            retryAfter);

    /// <summary>Adds a Retry-After header (whole seconds, at least 1) to a problem response.</summary>
    private sealed class ProblemWithRetryAfter(IResult problem, TimeSpan? retryAfter) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            if (retryAfter is { } wait)
            {
                httpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }

            return problem.ExecuteAsync(httpContext);
        }
    }
}
