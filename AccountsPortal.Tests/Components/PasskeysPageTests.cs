using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using PasskeysPage = AccountsPortal.Features.Passkeys.Passkeys;

namespace AccountsPortal.Tests.Components;

public sealed class PasskeysPageTests : PortalComponentTest
{
    private async Task<(IRenderedComponent<PasskeysPage> Page, string UserId)> RenderForNewUserAsync()
    {
        var userId = await Bench.CreateUserAsync();
        SignIn(userId);
        var page = Render<PasskeysPage>();
        page.WaitForAssertion(() => Assert.Contains("You have no passkeys", page.Find("[data-testid=passkey-status]").TextContent));
        return (page, userId);
    }

    private static void Add(IRenderedComponent<PasskeysPage> page, string name)
    {
        page.Find("input").Input(name);
        page.FindAll("button").Single(b => b.TextContent.Contains("Add passkey")).Click();
    }

    [Fact]
    public async Task Adding_a_passkey_shows_it_in_the_list()
    {
        var (page, userId) = await RenderForNewUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);

        Add(page, "Laptop");
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["create"]));
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        page.WaitForAssertion(() => Assert.Equal("Laptop", page.Find("[data-testid=passkey-name]").TextContent));
        Assert.Equal("Never used", page.Find("[data-testid=passkey-last-used]").TextContent);
        Assert.Contains("Passkey two-factor is on", page.Find("[data-testid=passkey-status]").TextContent);
        Assert.Single(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_cancelled_dialog_shows_nothing_alarming_and_adds_nothing()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true)
            .SetResult(new BrowserCredential(false, null, "NotAllowedError", "The operation either timed out or was not allowed."));

        Add(page, "Laptop");

        page.WaitForAssertion(() => Assert.Equal("No passkey was added.", page.Find("[role=status]").TextContent));
        Assert.Empty(page.FindAll("[role=alert]"));
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task Another_browser_error_is_shown_with_its_reason()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true)
            .SetResult(new BrowserCredential(false, null, "SecurityError", "The operation is insecure."));

        Add(page, "Laptop");

        page.WaitForAssertion(() => Assert.Equal("The passkey could not be created: The operation is insecure.", page.Find("[role=alert]").TextContent.Trim()));
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task An_authenticator_that_already_holds_the_passkey_says_so()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true)
            .SetResult(new BrowserCredential(false, null, "InvalidStateError", "The authenticator was previously registered."));

        Add(page, "Laptop");

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.AlreadyRegistered, page.Find("[role=alert]").TextContent.Trim()));
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_request_that_expired_while_the_dialog_was_open_says_so()
    {
        var (page, userId) = await RenderForNewUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);

        Add(page, "Laptop");
        page.WaitForAssertion(() => Assert.Single(PasskeyModule.Invocations["create"]));
        App.Time.Advance(TimeSpan.FromMinutes(6));
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.RequestExpired, page.Find("[role=alert]").TextContent.Trim()));
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task An_invalid_name_is_refused_before_the_browser_is_asked()
    {
        var (page, userId) = await RenderForNewUserAsync();

        Add(page, "Bad\u202Ename");

        page.WaitForAssertion(() => Assert.Contains("invisible control characters", page.Find("[role=alert]").TextContent));
        Assert.Empty(PasskeyModule.Invocations["create"]);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task The_list_shows_provider_sync_state_and_names_as_text()
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        authenticator.Aaguid = Guid.Parse("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4");
        authenticator.Synced = true;
        await Bench.RegisterAsync(userId, authenticator, "<b>Phone</b>");
        SignIn(userId);

        var page = Render<PasskeysPage>();

        page.WaitForAssertion(() => Assert.Equal("<b>Phone</b>", page.Find("[data-testid=passkey-name]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=passkey-name] b"));
        Assert.Equal("Google Password Manager", page.Find("[data-testid=passkey-provider]").TextContent.Trim());
        Assert.Equal("Synced", page.Find("[data-testid=passkey-sync]").TextContent.Trim());
    }
}
