using AccountsPortal.Features.Passkeys;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Email;

/// <summary>
/// Makes the absolute links that go into emails, from configuration only: <see cref="EmailOptions.PublicBaseUrl"/>,
/// or the first of <c>Passkeys:Origins</c> when it is not set. Never from a request, so a forged Host header
/// cannot send people elsewhere.
/// </summary>
public sealed class EmailLinks(IOptions<EmailOptions> email, IOptions<PasskeyOptions> passkeys)
{
    /// <summary>The URL links start with: <see cref="EmailOptions.PublicBaseUrl"/>, or the first passkey origin.</summary>
    /// <exception cref="InvalidOperationException">Neither is configured.</exception>
    public Uri BaseUrl
    {
        get
        {
            var configured = string.IsNullOrWhiteSpace(email.Value.PublicBaseUrl) ? passkeys.Value.Origins.FirstOrDefault() : email.Value.PublicBaseUrl;
            return configured is null
                ? throw new InvalidOperationException("Set Email:PublicBaseUrl (or Passkeys:Origins) so that emails can link to the portal.")
                : new Uri(configured, UriKind.Absolute);
        }
    }

    /// <summary>
    /// The absolute URL of a page of the portal: <paramref name="localPathAndQuery"/> (e.g. <c>/account/activity</c>
    /// or <c>/login?returnUrl=%2Faccount</c>, already URL-encoded) after <see cref="BaseUrl"/> and its path prefix.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="localPathAndQuery"/> does not start with exactly one "/"
    /// (an absolute or protocol-relative URL), or holds a backslash, white space or a control character.</exception>
    public Uri Absolute(string localPathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(localPathAndQuery);
        if (!localPathAndQuery.StartsWith('/')
            || localPathAndQuery.StartsWith("//", StringComparison.Ordinal)
            || localPathAndQuery.Any(c => c == '\\' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("An email link must be a local path that starts with a single '/', e.g. /account/activity.", nameof(localPathAndQuery));
        }

        var root = BaseUrl.GetLeftPart(UriPartial.Path).TrimEnd('/');
        return new Uri(root + localPathAndQuery, UriKind.Absolute);
    }
}
