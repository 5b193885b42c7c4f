namespace AccountsPortal.Features.Accounts;

/// <summary>Addresses of the login page with the notices it can show.</summary>
public static class LoginPage
{
    public const string Path = "/login";
    public const string ExpiredSessionUrl = "/login?notice=expired";
    public const string SignedOutUrl = "/login?notice=signed-out";
}
