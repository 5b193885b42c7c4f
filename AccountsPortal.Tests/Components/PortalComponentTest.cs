using System.Security.Claims;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace AccountsPortal.Tests.Components;

/// <summary>
/// bunit tests of portal pages with the portal's real services and SQLite file behind them; only the
/// browser (IJSRuntime, through bunit's JS interop) is simulated.
/// </summary>
public abstract class PortalComponentTest : BunitContext, IAsyncLifetime
{
    private readonly AsyncServiceScope scope;
    private readonly Bunit.TestDoubles.BunitAuthorizationContext authorization;

    /// <summary>
    /// How long a test waits for the page to reach what it asserts. Every component test starts a portal host of
    /// its own and the pages call the real services on SQLite, so under a loaded machine (parallel test classes,
    /// other builds) a render can take seconds: bunit's default of one second would fail tests that are right.
    /// It only bounds a wait; a passing assertion ends it at once.
    /// </summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    protected PortalComponentTest()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        // The portal's clock and settings, not defaults of the test container (MudBlazor brings a TimeProvider of its own).
        Services.AddSingleton<TimeProvider>(App.Time);
        Services.AddSingleton(App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PasskeyOptions>>());
        Services.AddScoped<PasskeyBrowser>();
        authorization = AddAuthorization();
        PersistentState = AddBunitPersistentComponentState();
        scope = App.Services.CreateAsyncScope();
        Services.AddFallbackServiceProvider(scope.ServiceProvider);
        PasskeyModule = JSInterop.SetupModule(PasskeyBrowser.ModulePath);
        SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    // Confirmations last longer than a registration's challenge here, so a test can let the challenge expire alone.
    protected PortalAppFactory App { get; } = AppApiClient.Configure(new PortalAppFactory()).WithSetting("Security:ReauthenticationWindow", "00:10:00");

    protected PasskeyBench Bench => new(App);

    protected BunitJSModuleInterop PasskeyModule { get; }

    /// <summary>What a prerender would have handed to the interactive page.</summary>
    protected Bunit.TestDoubles.BunitPersistentComponentState PersistentState { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Renders as a browser of the user that signed in (and so confirmed it's them) just now; returns its session id.</summary>
    protected async Task<string> SignInAsync(string userId, string email = "someone@example.test")
    {
        var session = await Bench.SignedInBrowserAsync(userId);
        authorization.SetAuthorized(email);
        authorization.SetClaims(
            new Claim(ClaimTypes.NameIdentifier, userId), new Claim(ClaimTypes.Email, email),
            new Claim(Features.Accounts.Sessions.BrowserSessionStore.SessionIdClaim, session));
        return session;
    }

    /// <summary>The options JSON the page passed to the module's <paramref name="function"/> on its last call.</summary>
    protected string LastOptions(string function) => (string)PasskeyModule.Invocations[function].Last().Arguments[0]!;

    /// <summary>
    /// Waits (up to <see cref="Patience"/>) until the page has called the module's <paramref name="function"/>
    /// <paramref name="count"/> times, and returns those calls. For calls a page makes after its last render (from
    /// OnAfterRenderAsync, as the Signal API calls are, or after a database call that did not complete at once), which
    /// bunit's WaitForAssertion, checking on renders, would miss.
    /// </summary>
    protected async Task<IReadOnlyList<JSRuntimeInvocation>> WaitForCallsAsync(string function, int count)
    {
        var deadline = DateTime.UtcNow + Patience;
        // Read on the renderer's dispatcher, which is where the page records its calls.
        Task<List<JSRuntimeInvocation>> CallsAsync() => Renderer.Dispatcher.InvokeAsync(() => PasskeyModule.Invocations[function].ToList());
        var calls = await CallsAsync();
        while (calls.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            calls = await CallsAsync();
        }

        Assert.Equal(count, calls.Count);
        return calls;
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAllAsync();

    private async Task DisposeAllAsync()
    {
        await base.DisposeAsync();
        await scope.DisposeAsync();
        await App.DisposeAsync();
    }
}
