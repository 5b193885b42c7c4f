using System.Net;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// What the browser viewing a verify page holds, read from its request at prerender and carried into the
/// interactive circuit (which sees no HTTP request) in Blazor's encrypted persisted state.
/// </summary>
/// <param name="Proof">Its pending-login and approval cookies.</param>
/// <param name="ClientIp">Its address, for the per-IP rate limit of the circuit's actions.</param>
public sealed record VerifyVisitor(LoginProof Proof, string? ClientIp)
{
    public static readonly VerifyVisitor Unknown = new(LoginProof.None, null);

    /// <summary>The browser making the prerender request; <see cref="Unknown"/> without one (an interactive render that restored nothing).</summary>
    public static VerifyVisitor From(HttpContext? context) =>
        context is null ? Unknown : new(LoginProof.From(context), context.Connection.RemoteIpAddress?.ToString());

    [System.Text.Json.Serialization.JsonIgnore]
    public IPAddress? ClientIpAddress => IPAddress.TryParse(ClientIp, out var address) ? address : null;
}
