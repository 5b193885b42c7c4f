using System.Net;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>Who passed the password step: what a device asked to approve the login is shown.</summary>
/// <param name="Ip">The client's address (through a trusted proxy when one is configured).</param>
/// <param name="UserAgent">The User-Agent header, cut to <see cref="MaxUserAgentLength"/> characters.</param>
public sealed record LoginRequester(IPAddress? Ip, string? UserAgent)
{
    public const int MaxUserAgentLength = 256;

    public static LoginRequester From(HttpContext context)
    {
        var userAgent = context.Request.Headers.UserAgent.ToString();
        return new LoginRequester(
            context.Connection.RemoteIpAddress,
            string.IsNullOrEmpty(userAgent) ? null : userAgent[..Math.Min(userAgent.Length, MaxUserAgentLength)]);
    }
}
