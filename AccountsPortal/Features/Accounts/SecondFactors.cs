namespace AccountsPortal.Features.Accounts;

/// <summary>
/// A second factor a feature offers (passkeys, TOTP). Login asks every registered factor whether
/// the account uses it and sends the user to the verify page of the one with the highest precedence.
/// </summary>
public interface ISecondFactor
{
    /// <summary>Stable name stored with a login session, e.g. "passkey".</summary>
    string Name { get; }

    /// <summary>What the account page calls it, e.g. "Passkeys".</summary>
    string DisplayName { get; }

    /// <summary>Higher wins when an account has several factors.</summary>
    int Precedence { get; }

    Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken);

    /// <summary>The local page that verifies this factor for a login session.</summary>
    string VerifyPath(string loginSessionId);
}

/// <summary>The registered second factors, ordered by precedence.</summary>
public sealed class SecondFactorDirectory(IEnumerable<ISecondFactor> factors)
{
    private readonly ISecondFactor[] ordered = [.. factors.OrderByDescending(factor => factor.Precedence)];

    /// <summary>The factors the account has turned on, strongest first.</summary>
    public async Task<IReadOnlyList<ISecondFactor>> EnabledForAsync(string userId, CancellationToken cancellationToken = default)
    {
        var enabled = new List<ISecondFactor>();
        foreach (var factor in ordered)
        {
            if (await factor.IsEnabledAsync(userId, cancellationToken))
            {
                enabled.Add(factor);
            }
        }

        return enabled;
    }

    /// <summary>The factor a login must pass, or null when the account has none.</summary>
    public async Task<ISecondFactor?> RequiredForAsync(string userId, CancellationToken cancellationToken = default)
    {
        foreach (var factor in ordered)
        {
            if (await factor.IsEnabledAsync(userId, cancellationToken))
            {
                return factor;
            }
        }

        return null;
    }
}
