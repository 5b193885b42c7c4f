using System.Net;
using AccountsPortal.Features.Accounts.LoginSessions;
using AngleSharp.Html.Dom;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>One person's browser, without JavaScript: its own cookies, talking to one portal.</summary>
public sealed class PortalScenario(PortalAppFactory app) : IDisposable
{
    public const string StrongPassword = "correct horse battery staple";

    public CookieContainer Cookies { get; } = new();

    private HttpClient? client;

    public HttpClient Http => client ??= app.CreatePortalClient(Cookies);

    public Uri Origin => app.ServerAddress ?? new Uri("http://localhost");

    public static string NewEmail() => $"user-{Guid.NewGuid():N}@example.test";

    public Task<HttpResponseMessage> SignUpAsync(string email, string password = StrongPassword, string? confirm = null) =>
        Http.SubmitAsync("/signup", "signup", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = confirm ?? password,
        });

    /// <summary>Signs up, enters the code emailed to the address, and follows the redirects to the page that shows the recovery key.</summary>
    public async Task<(IHtmlDocument Page, List<string> Locations)> SignUpAndFollowAsync(string email, string password = StrongPassword)
    {
        // Over Kestrel the client follows redirects itself; in memory, FollowAsync does.
        var (landed, _) = await FollowAsync(await SignUpAsync(email, password));
        Assert.Equal(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, landed.RequestMessage!.RequestUri!.AbsolutePath);
        var (response, locations) = await FollowAsync(await EnterEmailCodeAsync(email));
        response.EnsureSuccessStatusCode();
        return (await response.ReadHtmlAsync(), locations);
    }

    /// <summary>Enters, on the verification page, the newest code emailed to <paramref name="email"/> (read from the .eml files).</summary>
    public async Task<HttpResponseMessage> EnterEmailCodeAsync(string email, string? code = null) =>
        await Http.SubmitAsync(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, "verify-email", new Dictionary<string, string>
        {
            ["Input.Code"] = code ?? await Mailbox.LatestCodeAsync(app, email),
        });

    /// <summary>Signs up and returns the recovery key words shown once on the page.</summary>
    public async Task<string[]> SignUpAndReadRecoveryKeyAsync(string email, string password = StrongPassword)
    {
        var (page, _) = await SignUpAndFollowAsync(email, password);
        return RecoveryKeyWords(page);
    }

    public static string[] RecoveryKeyWords(IHtmlDocument page) =>
        [.. page.QuerySelectorAll("[data-testid=recovery-key-words] li").Select(item => item.TextContent.Trim())];

    public Task<HttpResponseMessage> LogInAsync(string email, string password = StrongPassword, string? returnUrl = null) =>
        Http.SubmitAsync(
            returnUrl is null ? "/login" : $"/login?returnUrl={Uri.EscapeDataString(returnUrl)}",
            "login",
            new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = password });

    /// <summary>Follows redirects by hand, returning every location visited.</summary>
    public async Task<(HttpResponseMessage Final, List<string> Locations)> FollowAsync(HttpResponseMessage response)
    {
        var locations = new List<string>();
        while (response.IsRedirect())
        {
            var location = response.LocationPath();
            locations.Add(location);
            response = await Http.GetAsync(location);
        }

        return (response, locations);
    }

    public string? PendingLoginSecret => Cookies.Cookie(Origin, PendingLoginCookie.Name);

    public string? AuthCookie => Cookies.Cookie(Origin, "AccountsPortal.Auth");

    public void Dispose()
    {
        client?.Dispose();
    }
}
