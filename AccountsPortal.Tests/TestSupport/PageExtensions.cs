using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

public static class PageExtensions
{
    /// <summary>Waits until the page's Blazor circuit is live; before that, a prerendered page ignores clicks.</summary>
    public static Task WaitForInteractiveAsync(this IPage page) =>
        page.Locator(".portal-root[data-interactive='true']").WaitForAsync();

    public static ILocator MainContent(this IPage page) => page.Locator("main");
}
