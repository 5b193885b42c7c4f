using Microsoft.AspNetCore.Identity;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// The last step of every login: signs in the browser that holds a verified session's pending-login
/// cookie, consumes the session and clears the cookie. Runs in an HTTP request, never in a circuit.
/// </summary>
public sealed class LoginCompletion(
    LoginSessionService loginSessions,
    UserManager<PortalUser> users,
    SignInManager<PortalUser> signInManager,
    Activity.SecurityEvents events)
{
    /// <summary>The local URL to continue to, or null when the session cannot be completed by this browser.</summary>
    public async Task<string?> CompleteAsync(HttpContext context, string? sessionId, CancellationToken cancellationToken = default)
    {
        var consumed = await loginSessions.ConsumeAsync(sessionId, PendingLoginCookie.Read(context), cancellationToken);
        var user = consumed.Succeeded ? await users.FindByIdAsync(consumed.UserId!) : null;
        if (user is null)
        {
            return null;
        }

        await signInManager.SignInAsync(user, isPersistent: false);
        await events.RecordAsync(user.Id, Activity.SecurityEventKind.SignedIn, consumed.SecondFactor switch
        {
            "passkey" => "a passkey",
            "totp" => "an authenticator app",
            _ => null,
        }, cancellationToken);
        PendingLoginCookie.Delete(context);
        return LocalReturnUrl.Sanitize(consumed.ReturnUrl);
    }
}
