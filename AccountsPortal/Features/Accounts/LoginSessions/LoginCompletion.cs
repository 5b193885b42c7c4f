using Microsoft.AspNetCore.Identity;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// The last step of every login: signs in the browser that holds a verified session's pending-login
/// cookie, consumes the session and clears the cookie. Runs in an HTTP request, never in a circuit.
/// A browser that is already signed in (as anyone) is signed out first and sent back here without its
/// cookie, so every sign-in gets a new browser session row and key: none is ever inherited.
/// The session's consumption, the browser session row, the sign-in event and the device record commit in one
/// transaction: a failure anywhere leaves the login session ready to complete again and no cookie set.
/// </summary>
public sealed class LoginCompletion(
    Data.PortalDbContext db,
    LoginSessionService loginSessions,
    UserManager<PortalUser> users,
    SignInManager<PortalUser> signInManager,
    Activity.SecurityEvents events,
    Notifications.KnownDevices devices,
    Microsoft.Extensions.Options.IOptionsMonitor<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions> cookieOptions,
    TimeProvider time)
{
    public const string AuthCookieName = "AccountsPortal.Auth";

    /// <summary>
    /// The local URL to continue to (the completion URL again, after signing an earlier sign-in out),
    /// or null when the session cannot be completed by this browser.
    /// </summary>
    /// <param name="returnUrl">Where to go instead of the session's return URL (local URLs only).</param>
    /// <param name="signedOutFirst">Set on the second pass, after an earlier sign-in was signed out.</param>
    public async Task<string?> CompleteAsync(
        HttpContext context, string? sessionId, string? returnUrl = null, bool signedOutFirst = false, CancellationToken cancellationToken = default)
    {
        var browserSecret = PendingLoginCookie.Read(context);
        var signInCookie = cookieOptions.Get(IdentityConstants.ApplicationScheme).Cookie.Name!;
        if (context.Request.Cookies.ContainsKey(signInCookie) && await loginSessions.IsStartedByAsync(sessionId, browserSecret, cancellationToken))
        {
            // The cookie handler would renew the old row under its old key (a fixation risk): end it first,
            // and never renew it when the browser kept the cookie anyway. Only the browser that passed this
            // login's password step is signed out, so a link from elsewhere signs nobody out.
            if (signedOutFirst)
            {
                return null;
            }

            await signInManager.SignOutAsync();
            return LoginSessionService.CompletionUrl(sessionId!, returnUrl) + "&fresh=1";
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var consumed = await loginSessions.ConsumeAsync(sessionId, browserSecret, cancellationToken);
        var user = consumed.Succeeded ? await users.FindByIdAsync(consumed.UserId!) : null;
        if (user is null)
        {
            return null;
        }

        // The session store writes the new browser session in this transaction (BrowserSessionStore.StoreAsync).
        await signInManager.SignInWithClaimsAsync(user, isPersistent: false, AuthenticationMethods.Claims(consumed.AuthenticationMethods, time.GetUtcNow()));
        await events.RecordAsync(user.Id, Activity.SecurityEventKind.SignedIn, consumed.SecondFactor switch
        {
            "passkey" => "a passkey",
            Passkeys.PasskeySignIn.FactorName => "a passkey alone (no password)",
            "totp" => "an authenticator app",
            _ => null,
        }, cancellationToken);
        await devices.BrowserSignedInAsync(context, user.Id, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        PendingLoginCookie.Delete(context);
        return LocalReturnUrl.Sanitize(returnUrl is not null && LocalReturnUrl.IsLocal(returnUrl) ? returnUrl : consumed.ReturnUrl);
    }
}
