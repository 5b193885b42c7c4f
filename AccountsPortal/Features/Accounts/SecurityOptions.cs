namespace AccountsPortal.Features.Accounts;

/// <summary>Account-wide security settings. Section "Security".</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "Security";

    /// <summary>The longest <see cref="SessionRevalidationInterval"/> allowed: an ended session's open pages stop within a minute.</summary>
    public static readonly TimeSpan MaxSessionRevalidationInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How often an open page (a live Blazor circuit) and a signed-in browser's requests re-check that
    /// its browser session still exists and carries the account's current security stamp. Greater than
    /// zero and at most one minute; default one minute.
    /// </summary>
    public TimeSpan SessionRevalidationInterval { get; set; } = MaxSessionRevalidationInterval;

    /// <summary>
    /// How long a confirmation ("Confirm it's you", or the sign-in itself) lets this browser make security
    /// changes: factors, recovery key, password, email, signing out others. More than zero; default 5 minutes.
    /// </summary>
    public TimeSpan ReauthenticationWindow { get; set; } = TimeSpan.FromMinutes(5);
}
