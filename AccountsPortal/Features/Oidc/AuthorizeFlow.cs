namespace AccountsPortal.Features.Oidc;

/// <summary>
/// What <c>/connect/authorize</c> does next for a request, given the browser's sign-in: the decisions of OpenID Connect Core
/// §3.1.2.3 (prompt, max_age) and of consent (§3.1.2.4), without HTTP, so tests drive every combination.
/// </summary>
public sealed class AuthorizeFlow
{
    /// <param name="prompts">The request's <c>prompt</c> values (none, login, consent, select_account).</param>
    /// <param name="maxAge">The request's <c>max_age</c> in seconds, if any (any value: compared in seconds, never turned into a <see cref="TimeSpan"/>).</param>
    /// <param name="authTime">When the browser's sign-in happened; null when not signed in (or a ticket without the time).</param>
    public static AuthorizeStep SignInStep(IReadOnlyCollection<string> prompts, long? maxAge, bool signedIn, DateTimeOffset? authTime, DateTimeOffset now)
    {
        var fresh = signedIn
            && !prompts.Contains("login")
            && (maxAge is null || authTime is { } time && (now - time).TotalSeconds <= maxAge.Value);
        if (fresh)
        {
            return AuthorizeStep.Continue;
        }

        return prompts.Contains("none") ? AuthorizeStep.LoginRequired : AuthorizeStep.SignIn;
    }

    /// <param name="firstParty">The operator's own app, which never asks.</param>
    /// <param name="consented">The account already allowed this client these scopes (a permanent grant).</param>
    /// <param name="decision">What the person chose on the consent page, if this request is its answer.</param>
    public static AuthorizeStep ConsentStep(IReadOnlyCollection<string> prompts, bool firstParty, bool consented, ConsentDecision decision) => decision switch
    {
        ConsentDecision.Denied => AuthorizeStep.AccessDenied,
        ConsentDecision.Allowed => AuthorizeStep.RecordConsentAndIssue,
        _ when firstParty => AuthorizeStep.Issue,
        _ when consented && !prompts.Contains("consent") => AuthorizeStep.Issue,
        _ when prompts.Contains("none") => AuthorizeStep.ConsentRequired,
        _ => AuthorizeStep.AskConsent,
    };
}

public enum AuthorizeStep
{
    /// <summary>The browser's sign-in is good for this request.</summary>
    Continue,

    /// <summary>Send the browser through /login (password, then passkey or code) and back.</summary>
    SignIn,

    /// <summary><c>prompt=none</c> and no good sign-in: answer <c>login_required</c>.</summary>
    LoginRequired,

    /// <summary>Issue the code.</summary>
    Issue,

    /// <summary>The person allowed it just now: keep the consent, then issue the code.</summary>
    RecordConsentAndIssue,

    /// <summary>Show the consent page.</summary>
    AskConsent,

    /// <summary><c>prompt=none</c> and consent is needed: answer <c>consent_required</c>.</summary>
    ConsentRequired,

    /// <summary>The person said no: answer <c>access_denied</c>.</summary>
    AccessDenied,
}

public enum ConsentDecision
{
    None,
    Allowed,
    Denied,
}
