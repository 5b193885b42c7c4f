using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

public static class PageExtensions
{
    /// <summary>Waits until the page's Blazor circuit is live; before that, a prerendered page ignores clicks.</summary>
    public static Task WaitForInteractiveAsync(this IPage page) =>
        page.Locator(".portal-root[data-interactive='true']").WaitForAsync();

    public static ILocator MainContent(this IPage page) => page.Locator("main");

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
}
