namespace AccountsPortal.Features.Accounts;

/// <summary>Keeps return URLs on this site: anything that could leave it becomes the account page.</summary>
public static class LocalReturnUrl
{
    public const string Default = "/account";
    /// <summary>Long enough for an OpenID Connect authorization request with its state and nonce (which a sign-in returns to).</summary>
    public const int MaxLength = 4096;

    public static string Sanitize(string? returnUrl) =>
        IsLocal(returnUrl) ? returnUrl! : Default;

    /// <summary>
    /// A single leading slash followed by a path; rejects "//host", "/\host" (browsers read a
    /// backslash as a slash), absolute URLs, control characters that browsers strip, and anything
    /// outside printable ASCII, which cannot stand in a Location header unencoded (Kestrel refuses it).
    /// </summary>
    public static bool IsLocal(string? url)
    {
        if (string.IsNullOrEmpty(url) || url.Length > MaxLength || url[0] != '/')
        {
            return false;
        }

        if (url.Length > 1 && (url[1] == '/' || url[1] == '\\'))
        {
            return false;
        }

        return url.All(c => c is >= ' ' and <= '~' && c != '\\');
    }
}
