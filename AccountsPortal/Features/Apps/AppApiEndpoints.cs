using System.Security.Claims;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.SignIn;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Apps;

/// <summary>The JSON API for client apps, versioned under /api/v1.</summary>
internal static class AppApiEndpoints
{
    public const string SessionSecretHeader = "X-Session-Secret";
    public const string RateLimitPolicy = "app-api";

    // Credentials are small; anything larger is refused before it is read.
    private const long MaxBodyBytes = 32 * 1024;

    public static IEndpointRouteBuilder MapAppApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/v1").WithTags("Apps").DisableAntiforgery().AddEndpointFilter(OneConnectionPerCallAsync);
        var limited = api.MapGroup("").RequireRateLimiting(RateLimitPolicy).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));

        limited.MapPost("/login", LogInAsync)
            .WithSummary("Checks email and password for an app; returns a token, or what the second factor needs, with the approvalNumber the app must show.");
        limited.MapGet("/login/{sessionId}", CheckStatusAsync)
            .WithSummary("Check status: 202 while pending, 200 with the token once verified (at most twice, within 2 minutes), 410 after.");
        limited.MapPost("/login/{sessionId}/token", ExchangeCodeAsync)
            .WithSummary("Exchanges the one-time code sent to the redirect URI for the token, exactly once.");
        limited.MapPost("/login/{sessionId}/passkey/options", PasskeyOptionsAsync)
            .WithSummary("Assertion options for apps that call the platform's passkey API themselves.");
        limited.MapPost("/login/{sessionId}/passkey", VerifyPasskeyAsync)
            .WithSummary("Verifies the passkey answer (PublicKeyCredential.toJSON() shape) and returns the token.");
        limited.MapPost("/passkey-login/options", PasskeySignInOptionsAsync)
            .WithSummary("Assertion options for signing in with a passkey alone (discoverable credential, user verification required); 404 when Passkeys:PasskeySignIn is off.");
        limited.MapPost("/passkey-login", PasskeySignInAsync)
            .WithSummary("Verifies a passkey sign-in answer (PublicKeyCredential.toJSON() shape) and returns the token: both factors in one step.");
        limited.MapPost("/login/{sessionId}/totp", VerifyTotpAsync)
            .WithSummary("Verifies an authenticator-app code and returns the token.");

        var authenticated = api.MapGroup("").RequireAuthorization(policy => policy
            .AddAuthenticationSchemes(AppTokenAuthentication.SchemeName).RequireAuthenticatedUser());
        authenticated.MapGet("/me", MeAsync).WithSummary("The account the token belongs to.");
        authenticated.MapDelete("/tokens/current", RevokeCurrentAsync).WithSummary("Revokes the token used for this call.");
        return endpoints;
    }

    private static async Task<IResult> LogInAsync(
        LoginRequest request,
        HttpContext http,
        ClientApps clients,
        PasswordSignIn passwords,
        SecondFactorDirectory secondFactors,
        AppTokens tokens,
        AppLogins appLogins,
        IOptions<PasskeyOptions> passkeyOptions,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Email) || string.IsNullOrEmpty(request.Password) || request.Email.Length > 256 || request.Password.Length > 256)
        {
            return ApiProblems.Problem(400, ApiProblems.InvalidRequest, "Send email, password and clientId.");
        }

        var client = clients.Find(request.ClientId);
        if (client is null)
        {
            return ApiProblems.Problem(400, ApiProblems.UnknownClient, "This clientId is not registered.");
        }

        if (request.RedirectUri is not null && !ClientApps.IsRegistered(client, request.RedirectUri))
        {
            return ApiProblems.Problem(400, ApiProblems.InvalidRedirectUri, $"This redirectUri is not registered for {client.Name}.");
        }

        // Rate limits and lockout are keyed by the normalised email, the same for a known and an unknown account.
        var check = await passwords.CheckAsync(request.Email, request.Password, http.Connection.RemoteIpAddress, cancellationToken);
        switch (check.Outcome)
        {
            case PasswordCheckOutcome.RateLimited:
                return ApiProblems.Problem(429, ApiProblems.RateLimited, "Too many attempts for this account. Wait and try again.", check.RetryAfter);
            case PasswordCheckOutcome.Invalid:
                return ApiProblems.Problem(401, ApiProblems.InvalidCredentials, Login.InvalidCredentialsMessage);
            case PasswordCheckOutcome.LockedOut:
                return ApiProblems.Problem(423, ApiProblems.AccountLocked, Login.LockedOutMessage, check.LockedUntil - time.GetUtcNow());
        }

        var user = check.User!;
        if (!user.EmailConfirmed)
        {
            // Told only to someone who knows the password: the address must be verified in the portal first.
            return ApiProblems.Problem(403, ApiProblems.EmailNotVerified, "Verify your email address: log in to the portal once, it sends you a code.");
        }

        if (await secondFactors.RequiredForAsync(user.Id, cancellationToken) is null)
        {
            return await tokens.IssueAsync(user.Id, client.ClientId, user.SecurityStamp, cancellationToken) is { } issued
                ? TypedResults.Ok(new TokenResponse(issued.Token, issued.ExpiresAt))
                : ApiProblems.Problem(410, ApiProblems.SessionExpired, "The account's sign-in methods changed during this login. Log in again.");
        }

        var started = await appLogins.StartAsync(user.Id, client, request.RedirectUri, LoginRequester.From(http), cancellationToken);
        var origin = passkeyOptions.Value.Origins[0].TrimEnd('/');
        return TypedResults.Ok(new SecondFactorRequired(
            started.SessionId, started.SecondFactor, origin + started.VerifyPath, started.ExpiresAt, started.Secret, started.ApprovalNumber));
    }

    private static async Task<IResult> CheckStatusAsync(string sessionId, HttpRequest http, AppLogins appLogins, CancellationToken cancellationToken)
    {
        var claim = await appLogins.CollectAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken);
        return claim.Outcome == AppClaimOutcome.Pending
            ? TypedResults.Json(new PendingResponse("pending", claim.ExpiresAt!.Value), statusCode: StatusCodes.Status202Accepted)
            : ClaimResult(claim);
    }

    private static async Task<IResult> ExchangeCodeAsync(
        string sessionId, CodeRequest request, HttpRequest http, AppLogins appLogins, AttemptRateLimiter rateLimiter, PortalDbContext db, CancellationToken cancellationToken)
    {
        if (await LimitBySessionAsync(sessionId, http, rateLimiter, db, cancellationToken) is { } limited)
        {
            return limited;
        }

        return ClaimResult(await appLogins.ExchangeCodeAsync(sessionId, http.Headers[SessionSecretHeader], request.Code, cancellationToken));
    }

    private static async Task<IResult> PasskeyOptionsAsync(string sessionId, HttpRequest http, AppLogins appLogins, PasskeyLogin passkeys, CancellationToken cancellationToken)
    {
        if (await appLogins.FindWithLiveSessionAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken) is not { } found)
        {
            return SessionNotFound();
        }

        var start = await passkeys.BeginAsync(found.Session, LoginProof.ForApp(http.Headers[SessionSecretHeader]), cancellationToken);
        return start.Succeeded
            ? TypedResults.Text(start.OptionsJson!, "application/json")
            : ApiProblems.Problem(410, ApiProblems.SessionExpired, start.Error!);
    }

    private static async Task<IResult> VerifyPasskeyAsync(
        string sessionId, PasskeyRequest request, HttpRequest http, AppLogins appLogins, PasskeyLogin passkeys, CancellationToken cancellationToken)
    {
        if (await appLogins.FindWithLiveSessionAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken) is not { Login: var login } found)
        {
            return SessionNotFound();
        }

        // The token is issued in the transaction that records the verification: one commit for the whole answer.
        AppClaim? claim = null;
        var result = await passkeys.CompleteAsync(
            found.Session, null, request.Credential.ValueKind == System.Text.Json.JsonValueKind.Object ? request.Credential.GetRawText() : null,
            LoginProof.ForApp(http.Headers[SessionSecretHeader]), http.HttpContext.Connection.RemoteIpAddress, cancellationToken,
            whenVerified: async (session, token) => claim = await appLogins.ClaimVerifiedAsync(sessionId, login.ClientId, (session.UserId, session.SecurityStamp), token));
        if (result.Succeeded)
        {
            return ClaimResult(claim!);
        }

        // No longer awaiting a passkey: an app calling again after losing the answer to its verification gets the
        // token, as polling would.
        if (result == PasskeyLoginResult.SessionGone
            && await appLogins.CollectIfVerifiedAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken) is { } collected)
        {
            return ClaimResult(collected);
        }

        if (result.IsRateLimited)
        {
            return ApiProblems.Problem(429, ApiProblems.RateLimited, result.Error!, result.RetryAfter);
        }

        return result.SessionClosed
            ? ApiProblems.Problem(410, ApiProblems.SessionExpired, result.Error!)
            : ApiProblems.Problem(400, ApiProblems.PasskeyNotVerified, result.Error!);
    }

    private static async Task<IResult> PasskeySignInOptionsAsync(
        PasskeySignInOptionsRequest request, ClientApps clients, PasskeySignIn signIn, CancellationToken cancellationToken)
    {
        if (!signIn.Enabled)
        {
            return ApiProblems.Problem(404, ApiProblems.PasskeySignInOff, PasskeyMessages.SignInUnavailable);
        }

        if (clients.Find(request.ClientId) is not { } client)
        {
            return ApiProblems.Problem(400, ApiProblems.UnknownClient, "This clientId is not registered.");
        }

        var start = await signIn.BeginAsync(PasskeySignIn.AppBinding(client.ClientId), cancellationToken);
        return start.Succeeded
            ? TypedResults.Text(start.OptionsJson!, "application/json")
            : ApiProblems.Problem(400, ApiProblems.InvalidRequest, start.Error!);
    }

    private static async Task<IResult> PasskeySignInAsync(
        PasskeySignInRequest request, HttpContext http, ClientApps clients, PasskeySignIn signIn, AppTokens tokens, CancellationToken cancellationToken)
    {
        if (!signIn.Enabled)
        {
            return ApiProblems.Problem(404, ApiProblems.PasskeySignInOff, PasskeyMessages.SignInUnavailable);
        }

        if (clients.Find(request.ClientId) is not { } client)
        {
            return ApiProblems.Problem(400, ApiProblems.UnknownClient, "This clientId is not registered.");
        }

        // The token is issued in the transaction that records the passkey's use: one commit for the whole answer.
        IssuedToken? issued = null;
        var result = await signIn.CompleteAsync(
            PasskeySignIn.AppBinding(client.ClientId), null,
            request.Credential.ValueKind == System.Text.Json.JsonValueKind.Object ? request.Credential.GetRawText() : null,
            http.Connection.RemoteIpAddress,
            async (account, token) =>
            {
                issued = await tokens.IssueAsync(account.UserId, client.ClientId, account.SecurityStamp, token);
                return issued is not null;
            },
            cancellationToken);
        return result.Outcome switch
        {
            PasskeySignInOutcome.SignedIn => TypedResults.Ok(new TokenResponse(issued!.Token, issued.ExpiresAt)),
            PasskeySignInOutcome.RateLimited => ApiProblems.Problem(429, ApiProblems.RateLimited, result.Error!, result.RetryAfter),
            PasskeySignInOutcome.LockedOut => ApiProblems.Problem(423, ApiProblems.AccountLocked, result.Error!, result.RetryAfter),
            PasskeySignInOutcome.EmailNotVerified => ApiProblems.Problem(403, ApiProblems.EmailNotVerified, result.Error!),
            PasskeySignInOutcome.UnknownCredential => ApiProblems.Problem(400, ApiProblems.UnknownPasskey, result.Error!),
            PasskeySignInOutcome.Unavailable => ApiProblems.Problem(404, ApiProblems.PasskeySignInOff, result.Error!),
            _ => ApiProblems.Problem(400, ApiProblems.PasskeyNotVerified, result.Error!),
        };
    }

    private static async Task<IResult> VerifyTotpAsync(
        string sessionId, CodeRequest request, HttpRequest http, AppLogins appLogins, TotpLogin totp, CancellationToken cancellationToken)
    {
        if (await appLogins.FindAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken) is null)
        {
            return SessionNotFound();
        }

        if (await appLogins.CollectIfVerifiedAsync(sessionId, http.Headers[SessionSecretHeader], cancellationToken) is { } collected)
        {
            return ClaimResult(collected);
        }

        var result = await totp.VerifyAsync(
            sessionId, request.Code, LoginProof.ForApp(http.Headers[SessionSecretHeader]), http.HttpContext.Connection.RemoteIpAddress, cancellationToken);
        return result.Failure switch
        {
            SecondFactorFailure.None => ClaimResult(await appLogins.ClaimVerifiedAsync(sessionId, cancellationToken: cancellationToken)),
            SecondFactorFailure.SessionGone => ApiProblems.Problem(410, ApiProblems.SessionExpired, result.Error!),
            // The wrong code that used up the login's tries: the app must log in again (after the lockout, if any).
            SecondFactorFailure.TooManyAttempts => ApiProblems.Problem(410, ApiProblems.SessionExpired, result.Error!, result.RetryAfter),
            SecondFactorFailure.PasskeyRequired => ApiProblems.Problem(409, ApiProblems.PasskeyRequired, result.Error!),
            SecondFactorFailure.LockedOut => ApiProblems.Problem(423, ApiProblems.AccountLocked, result.Error!, result.RetryAfter),
            SecondFactorFailure.RateLimited => ApiProblems.Problem(429, ApiProblems.RateLimited, result.Error!, result.RetryAfter),
            _ => ApiProblems.Problem(400, ApiProblems.InvalidCode, result.Error!),
        };
    }

    private static async Task<IResult> MeAsync(ClaimsPrincipal principal, PortalDbContext db, SecondFactorDirectory secondFactors, CancellationToken cancellationToken)
    {
        var userId = principal.FindFirstValue(ClaimTypes.NameIdentifier)!;
        var user = await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => new { u.Id, u.Email, u.CreatedAt }).SingleAsync(cancellationToken);
        var factors = await secondFactors.EnabledForAsync(userId, cancellationToken);
        return TypedResults.Ok(new MeResponse(user.Id, user.Email!, user.CreatedAt, [.. factors.Select(f => f.Name)], principal.FindFirstValue(AppTokenAuthentication.ClientIdClaim)!));
    }

    private static async Task<IResult> RevokeCurrentAsync(ClaimsPrincipal principal, AppTokens tokens, CancellationToken cancellationToken)
    {
        var tokenId = long.Parse(principal.FindFirstValue(AppTokenAuthentication.TokenIdClaim)!, System.Globalization.CultureInfo.InvariantCulture);
        await tokens.RevokeAsync(principal.FindFirstValue(ClaimTypes.NameIdentifier)!, tokenId, cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<IResult?> LimitBySessionAsync(
        string sessionId, HttpRequest http, AttemptRateLimiter limiter, PortalDbContext db, CancellationToken cancellationToken)
    {
        var userId = await db.LoginSessions.AsNoTracking().Where(s => s.Id == sessionId).Select(s => s.UserId).SingleOrDefaultAsync(cancellationToken);
        return await limiter.TryAcquireForAccountAsync(http.HttpContext.Connection.RemoteIpAddress, userId, cancellationToken) is { } wait
            ? ApiProblems.Problem(429, ApiProblems.RateLimited, "Too many attempts for this account. Wait and try again.", wait)
            : null;
    }

    /// <summary>
    /// Opens the call's database connection once, for all its statements, instead of EF Core opening and closing it
    /// around each one (a passkey step makes up to 15). Closed when the handler returns: before the response is written.
    /// </summary>
    private static async ValueTask<object?> OneConnectionPerCallAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var db = context.HttpContext.RequestServices.GetRequiredService<PortalDbContext>();
        await db.Database.OpenConnectionAsync(context.HttpContext.RequestAborted);
        try
        {
            return await next(context);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static IResult SessionNotFound() =>
        ApiProblems.Problem(404, ApiProblems.SessionNotFound, "No login session with this id and secret.");

    private static IResult ClaimResult(AppClaim claim) => claim.Outcome switch
    {
        AppClaimOutcome.Token => TypedResults.Ok(new TokenResponse(claim.Token!.Token, claim.Token.ExpiresAt)),
        AppClaimOutcome.NotFound => SessionNotFound(),
        AppClaimOutcome.InvalidCode => ApiProblems.Problem(400, ApiProblems.InvalidCode, "The code is wrong, expired or for another session."),
        AppClaimOutcome.AlreadyClaimed => ApiProblems.Problem(410, ApiProblems.SessionAlreadyClaimed, "The token for this login was already collected."),
        AppClaimOutcome.Refused => ApiProblems.Problem(410, ApiProblems.LoginRefused, PasskeyMessages.LoginRefused),
        _ => ApiProblems.Problem(410, ApiProblems.SessionExpired, "This login session has expired."),
    };
}
