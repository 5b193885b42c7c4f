using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

public static class PageExtensions
{
    /// <summary>Waits until the page's Blazor circuit is live; before that, a prerendered page ignores clicks.</summary>
    public static Task WaitForInteractiveAsync(this IPage page) =>
        page.Locator(".portal-root[data-interactive='true']").WaitForAsync();

    public static ILocator MainContent(this IPage page) => page.Locator("main");

    // What a page says to its reader outside the main content's text: alerts, status lines, dialogs.
    private const string Messages = "[role=alert], [role=status], [role=dialog]";

    /// <summary>
    /// What the page shows, for a failure message: its address, its visible alerts, status lines and dialogs (a
    /// "confirm it's you" dialog is not inside the main content), whether Blazor's error bar or reconnect dialog is up
    /// (both are always in the page, hidden until needed), and the first 400 characters of its main content.
    /// </summary>
    public static async Task<string> DescribeAsync(this IPage page)
    {
        var alerts = await page.Locator($"{Messages}, #blazor-error-ui, #components-reconnect-modal")
            .Filter(new() { Visible = true }).AllInnerTextsAsync();
        var shown = (await page.Locator("main").AllInnerTextsAsync()).FirstOrDefault() ?? "";
        return $"The page at {page.Url} showed: [{string.Join(" | ", alerts.Where(a => a.Trim().Length > 0))}]; " +
            $"its main content began: [{shown[..Math.Min(shown.Length, 400)]}].";
    }

    /// <summary>
    /// Whether a click on the passkeys page's "Add passkey" went nowhere: nothing is in flight (the button is enabled) and
    /// the page shows no alert, status line or dialog. Seen under load soon after the page loaded, in clean clones of
    /// the whole suite: 45 and 90 s without any outcome, no alert, neither Blazor's error bar nor its reconnect dialog,
    /// the page still at /passkeys with its form empty (the cause is not known). A person clicks again; so do the tests,
    /// at most twice, and say so in the test's output. A click the portal did take disables the button until its
    /// outcome shows, so a second one cannot start a second addition.
    /// </summary>
    public static async Task<bool> AddPasskeyClickWentNowhereAsync(this IPage page) =>
        await page.Locator(Messages).Filter(new() { Visible = true }).CountAsync() == 0
        && await page.GetByRole(AriaRole.Button, new() { Name = "Add passkey" }).IsEnabledAsync();

    /// <summary>
    /// When the last click on "Add passkey", <paramref name="sinceClick"/> ago, is more than 15 s old and went nowhere
    /// (<see cref="AddPasskeyClickWentNowhereAsync"/>): says so in the test's output, fills in <paramref name="name"/> and
    /// clicks again. True when it clicked.
    /// </summary>
    public static async Task<bool> ClickAddPasskeyAgainIfLostAsync(this IPage page, string name, TimeSpan sinceClick)
    {
        if (sinceClick <= TimeSpan.FromSeconds(15) || !await page.AddPasskeyClickWentNowhereAsync())
        {
            return false;
        }

        Console.WriteLine($"'Add passkey' clicked again for '{name}': the click {sinceClick.TotalSeconds:F0} s before went nowhere.");
        await page.GetByLabel("Passkey name").FillAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Add passkey" }).ClickAsync();
        return true;
    }

    /// <summary>
    /// Waits until the page's address ends with <paramref name="ending"/> (a path, with its query when given), by
    /// polling the address as <c>Expect(page).ToHaveURLAsync</c> does. Used instead of <c>WaitForURLAsync</c>, which
    /// on an address that already matches waits for the document's <c>load</c> event with a check-then-subscribe
    /// race in Playwright .NET: a <c>load</c> that fires in between is missed and the wait runs into its timeout on a
    /// page that is there ("NetworkIdle event fired", no "load"). What a test does next waits for its element anyway.
    /// </summary>
    public static Task WaitForAddressAsync(this IPage page, string ending) =>
        Assertions.Expect(page).ToHaveURLAsync(new Regex(Regex.Escape(ending) + "$"));

    /// <summary>As <see cref="WaitForAddressAsync(IPage, string)"/>, for an address matching <paramref name="address"/>.</summary>
    public static Task WaitForAddressAsync(this IPage page, Regex address) =>
        Assertions.Expect(page).ToHaveURLAsync(address);

    /// <summary>
    /// Opens <paramref name="path"/> on a page that should land on <paramref name="landing"/> instead (a signed-out
    /// browser sent to the login page), and waits until it has. The page's own circuit may get there first (a session
    /// ended elsewhere sends its open page to the login page): then Playwright reports the navigation asked for as
    /// interrupted by that one, which is the outcome the test waits for, not a failure.
    /// </summary>
    public static async Task GotoExpectingRedirectAsync(this IPage page, string path, Regex landing)
    {
        try
        {
            await page.GotoAsync(path);
        }
        catch (PlaywrightException exception) when (exception.Message.Contains("is interrupted by another navigation", StringComparison.Ordinal))
        {
            // Already on its way: the address is checked below either way.
        }

        await page.WaitForAddressAsync(landing);
    }

    /// <summary>The longest a test waits for Playwright to close a browser context or a browser.</summary>
    public static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Closes the page's browser context (its cookies, pages and authenticators), waiting at most <see cref="CloseTimeout"/>.
    /// Playwright's <c>CloseAsync</c> has no timeout of its own, and once in a full run it never returned
    /// (<c>AppHandOffTests</c>, awaiting <c>BrowserContext.CloseAsync</c> with the whole process idle): the test's
    /// assertions are done by then, and the fixture closes the browser itself at the end.
    /// </summary>
    public static async Task CloseContextAsync(this IPage page)
    {
        try
        {
            await page.Context.CloseAsync().WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            // Left to the browser's own close at the end of the collection.
        }
    }

    /// <summary>
    /// Closes a browser (if any), waiting at most <see cref="CloseTimeout"/>: Playwright's close has no timeout of its own;
    /// disposing Playwright afterwards ends its driver and the browser.
    /// </summary>
    public static async Task CloseWithinTimeoutAsync(this IBrowser? browser)
    {
        if (browser is null)
        {
            return;
        }

        try
        {
            await browser.CloseAsync().WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            // Disposing Playwright ends the driver and the browser.
        }
    }
}
