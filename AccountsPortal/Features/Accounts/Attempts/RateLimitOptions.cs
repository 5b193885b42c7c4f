namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>Request and attempt rates, on top of the lockouts. Section "RateLimits".</summary>
public sealed class RateLimitOptions
{
    public const string SectionName = "RateLimits";

    /// <summary>
    /// Requests per minute from one IP address (IPv6: one /64, <see cref="ClientAddress"/>) to each way in: the sign-in, sign-up and recovery forms,
    /// the actions of the verify pages, and the app API. Counted on each node separately.
    /// </summary>
    public int RequestsPerMinutePerIp { get; set; } = 60;

    /// <summary>
    /// Attempts per minute against one account (keyed by the normalised email the account lookup uses,
    /// or by the account of a login session), whichever way they come in.
    /// </summary>
    public int AttemptsPerMinutePerAccount { get; set; } = 10;
}
