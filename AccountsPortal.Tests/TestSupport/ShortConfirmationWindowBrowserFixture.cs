namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A <see cref="BrowserFixture"/> whose portal asks "Confirm it's you" once a confirmation (or sign-in) is
/// older than <see cref="Window"/>, instead of the default five minutes, so that browser journeys can get past
/// the window by waiting a few seconds.
/// </summary>
public sealed class ShortConfirmationWindowBrowserFixture : BrowserFixture
{
    /// <summary>
    /// The portal's <c>Security:ReauthenticationWindow</c>: short enough to wait out, long enough that a journey's steps
    /// between a confirmation and the action it allows (reading and saving a new recovery key) fit in it on a loaded
    /// 2-core machine; 3 s did not always.
    /// </summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(6);

    public ShortConfirmationWindowBrowserFixture()
        : base(new Dictionary<string, string?> { ["Security:ReauthenticationWindow"] = Window.ToString("c", System.Globalization.CultureInfo.InvariantCulture) })
    {
    }

    /// <summary>Waits until a confirmation made now is no longer recent. It waits for the configured window; it measures nothing.</summary>
    public static Task WaitPastTheWindowAsync() => Task.Delay(Window + TimeSpan.FromMilliseconds(500));
}

/// <summary>Browser journeys that need the short confirmation window; the other browser tests keep the default.</summary>
[CollectionDefinition(Name)]
public sealed class ShortConfirmationWindowBrowserCollection : ICollectionFixture<ShortConfirmationWindowBrowserFixture>
{
    public const string Name = "Browser, short confirmation window";
}
