using Microsoft.Playwright;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// One headless Debian Chromium (/usr/bin/chromium, never a downloaded browser) for a collection of
/// browser tests, with one portal on Kestrel for them. Every test gets a fresh browser context.
/// A subclass may give its portal more settings (<see cref="ShortConfirmationWindowBrowserFixture"/>).
/// </summary>
public class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>
    /// How long the portal's passkey dialog stays open here before it gives up (<c>Passkeys:DialogTimeout</c>): a
    /// dialog nobody answers (no matching passkey on this device) ends after a few seconds, as a person would end it.
    /// </summary>
    public static readonly TimeSpan DialogTimeout = TimeSpan.FromSeconds(4);

    /// <summary>
    /// How long an <c>Expect</c> assertion, an action or a wait for a page may take. Longer than any dialog a test
    /// waits out (<see cref="DialogTimeout"/>), with room for a machine busy with other builds: it bounds the wait
    /// only, a page that is ready passes at once. (Playwright's own default for <c>Expect</c> is 5 s.)
    /// </summary>
    public static readonly TimeSpan ExpectTimeout = DialogTimeout + TimeSpan.FromSeconds(26);

    private IPlaywright? playwright;
    private IBrowser? browser;

    public BrowserFixture()
        : this(new Dictionary<string, string?>())
    {
    }

    /// <param name="settings">Configuration values for this collection's portal, set after (and over) the shared ones.</param>
    protected BrowserFixture(IReadOnlyDictionary<string, string?> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);

        // A dialog nobody answers (no matching passkey on this device) gives up after a few seconds, as a person would.
        App = AppApiClient.Configure(PortalAppFactory.WithSystemClock(), AppCallback.Address.ToString())
            .WithSetting("Passkeys:DialogTimeout", DialogTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture))
            // Open pages of ended sessions re-check every two seconds here (at most a minute in production).
            .WithSetting("Security:SessionRevalidationInterval", "00:00:02")
            // Chromium's virtual authenticator answers the login page's passkey autofill (a conditional request) by
            // itself, where a person would have to pick the passkey among the email field's suggestions: every login
            // with a password would turn into a passkey sign-in. These journeys use the password, so passkey sign-in is
            // off for them; PasskeySignInBrowserFixture runs the sign-in journeys with it on, as it is by default.
            .WithSetting("Passkeys:PasskeySignIn", "false");
        foreach (var (key, value) in settings)
        {
            App.WithSetting(key, value);
        }
    }

    public PortalAppFactory App { get; }

    /// <summary>Where the test app registered to be sent back: a loopback listener, like a desktop app's, listening from the start.</summary>
    public LoopbackCallback AppCallback { get; } = new();

    public Uri BaseAddress => App.ServerAddress!;

    // The portal behind each running fixture's origin, so journeys given only a page can read that portal's mail.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, PortalAppFactory> Serving = new();

    /// <summary>The portal the page is on (by its origin).</summary>
    public static PortalAppFactory AppOf(IPage page) => Serving[new Uri(page.Url).GetLeftPart(UriPartial.Authority)];

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: run ./test.sh, which installs Debian's chromium.");
        }

        // For every Expect of every browser test (Playwright keeps it globally).
        Assertions.SetDefaultExpectTimeout((float)ExpectTimeout.TotalMilliseconds);
        App.StartKestrel();
        Serving[BaseAddress.ToString().TrimEnd('/')] = App;
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
        });
    }

    /// <summary>A new, isolated browser profile (cookies, storage) on the portal's origin.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString().TrimEnd('/'),
            AcceptDownloads = true,
            Locale = "en-US",
        });
        context.SetDefaultTimeout((float)ExpectTimeout.TotalMilliseconds);
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"], new() { Origin = BaseAddress.ToString().TrimEnd('/') });
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        await browser.CloseWithinTimeoutAsync();

        playwright?.Dispose();
        await App.DisposeAsync();
        await AppCallback.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "Browser";
}
