using System.Buffers.Text;
using System.Text;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.JSInterop;
using PasskeysPage = AccountsPortal.Features.Passkeys.Passkeys;

namespace AccountsPortal.Tests.Components;

public sealed class PasskeysPageTests : PortalComponentTest
{
    private async Task<(IRenderedComponent<PasskeysPage> Page, string UserId)> RenderForNewUserAsync()
    {
        var userId = await Bench.CreateUserAsync();
        await SignInAsync(userId);
        var page = Render<PasskeysPage>();
        page.WaitForAssertion(() => Assert.Contains("You have no passkeys", page.Find("[data-testid=passkey-status]").TextContent), Patience);
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
        await WaitForCallsAsync("create", 1);
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        page.WaitForAssertion(() => Assert.Equal("Laptop", page.Find("[data-testid=passkey-name]").TextContent), Patience);
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

        page.WaitForAssertion(() => Assert.Equal("No passkey was added.", page.Find("[role=status]").TextContent), Patience);
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

        page.WaitForAssertion(() => Assert.Equal("The passkey could not be created: The operation is insecure.", page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task An_authenticator_that_already_holds_the_passkey_says_so()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true)
            .SetResult(new BrowserCredential(false, null, "InvalidStateError", "The authenticator was previously registered."));

        Add(page, "Laptop");

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.AlreadyRegistered, page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_request_that_expired_while_the_dialog_was_open_says_so()
    {
        var (page, userId) = await RenderForNewUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);

        Add(page, "Laptop");
        await WaitForCallsAsync("create", 1);
        // Past the challenge's lifetime (5 minutes) but within the call's grace: the late answer arrives and is refused.
        App.Time.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        page.WaitForAssertion(() => Assert.Equal(PasskeyMessages.RequestExpired, page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task An_invalid_name_is_refused_before_the_browser_is_asked()
    {
        var (page, userId) = await RenderForNewUserAsync();

        Add(page, "Bad\u202Ename");

        page.WaitForAssertion(() => Assert.Contains("invisible control characters", page.Find("[role=alert]").TextContent), Patience);
        Assert.Empty(PasskeyModule.Invocations["create"]);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Theory]
    [InlineData(1, 20_000)]
    [InlineData(3, 300)]
    [InlineData(64, 4)]
    public async Task A_name_of_few_letters_carrying_thousands_of_combining_marks_gets_the_length_message(int letters, int marksPerLetter)
    {
        // A handful of text elements, tens of KB: the text-element count alone would let it through.
        var name = string.Concat(Enumerable.Repeat("a" + new string('\u0301', marksPerLetter), letters));
        Assert.InRange(new System.Globalization.StringInfo(name).LengthInTextElements, 1, 64);
        var (page, userId) = await RenderForNewUserAsync();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);

        Add(page, name);

        page.WaitForAssertion(() => Assert.Equal("A passkey name can be at most 64 characters.", page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.Empty(PasskeyModule.Invocations["create"]);
        Assert.Empty(await Bench.PasskeysAsync(userId));

        // The same name sent straight to the services (a circuit message does not have to come from this form).
        using var authenticator = Bench.NewAuthenticator();
        var start = await Bench.BeginRegistrationAsync(userId);
        var outcome = await Bench.CompleteRegistrationAsync(userId, start.CeremonyId!, name, authenticator.CreateCredential(start.OptionsJson!));
        Assert.Equal("A passkey name can be at most 64 characters.", outcome.Error);
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task Names_up_to_the_byte_limit_are_kept_and_renaming_follows_the_same_rule()
    {
        var (page, userId) = await RenderForNewUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        var passkeyId = await Bench.RegisterAsync(userId, authenticator, "Key");
        // 64 family emoji would be 64 text elements but 1,600 bytes; 10 of them (250 bytes) fit.
        var family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466";
        var management = Services.GetRequiredService<PasskeyManagement>();
        var browser = await Bench.SignedInBrowserAsync(userId);

        Assert.True((await management.RenameAsync(userId, passkeyId, string.Concat(Enumerable.Repeat(family, 10)), browser)).Succeeded);
        var refused = await management.RenameAsync(userId, passkeyId, string.Concat(Enumerable.Repeat(family, 11)), browser);

        Assert.Equal("A passkey name can be at most 64 characters.", refused.Error);
        Assert.Equal(string.Concat(Enumerable.Repeat(family, 10)), Assert.Single(await Bench.PasskeysAsync(userId)).Name);
        page.Dispose();
    }

    [Fact]
    public async Task A_create_dialog_that_outlives_its_ceremony_fails_clearly_and_the_page_keeps_working()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true);
        PasskeyModule.SetupVoid("abort").SetVoidResult();
        var browser = Services.GetRequiredService<PasskeyBrowser>();
        var lifetime = App.Services.GetRequiredService<IOptions<PasskeyOptions>>().Value.RegistrationChallengeLifetime;

        Add(page, "Phone");
        await WaitForCallsAsync("create", 1);
        App.Time.Advance(TimeSpan.FromSeconds(61));
        Assert.Empty(page.FindAll("[role=alert]"));
        App.Time.Advance(browser.CallTimeout(lifetime));

        page.WaitForAssertion(() => Assert.Equal("The passkey could not be created: " + BrowserCredential.TimedOut.Message, page.Find("[role=alert]").TextContent.Trim()), Patience);
        Assert.False(page.FindAll("button").Single(b => b.TextContent.Contains("Add passkey")).HasAttribute("disabled"));
        Assert.Empty(await Bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_lost_connection_during_the_create_dialog_is_a_failure_not_a_crash()
    {
        var (page, userId) = await RenderForNewUserAsync();
        PasskeyModule.Setup<BrowserCredential>("create", _ => true).SetException(new Microsoft.JSInterop.JSDisconnectedException("gone"));

        Add(page, "Phone");

        page.WaitForAssertion(() => Assert.StartsWith("The passkey could not be created:", page.Find("[role=alert]").TextContent.Trim()), Patience);
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
        await SignInAsync(userId);

        var page = Render<PasskeysPage>();

        page.WaitForAssertion(() => Assert.Equal("<b>Phone</b>", page.Find("[data-testid=passkey-name]").TextContent), Patience);
        Assert.Empty(page.FindAll("[data-testid=passkey-name] b"));
        Assert.Equal("Google Password Manager", page.Find("[data-testid=passkey-provider-name]").TextContent.Trim());
        Assert.Equal("Synced", page.Find("[data-testid=passkey-sync]").TextContent.Trim());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_listed_provider_is_shown_with_its_icon_for_the_theme_and_labelled_as_reported_by_the_passkey(bool darkMode)
    {
        var userId = await Bench.CreateUserAsync();
        // 1Password: its list entry has different icons for light and dark backgrounds.
        var aaguid = Guid.Parse("bada5566-a7aa-401f-bd96-45619a55120d");
        using var authenticator = Bench.NewAuthenticator();
        authenticator.Aaguid = aaguid;
        await Bench.RegisterAsync(userId, authenticator, "Phone");
        await SignInAsync(userId);
        var listed = App.Services.GetRequiredService<Features.Passkeys.Providers.PasskeyProviders>().Find(aaguid)!;

        // The layout cascades the portal's theme (the theme cookie) as "DarkMode".
        var root = Render<CascadingValue<bool>>(parameters => parameters
            .Add(p => p.Name, "DarkMode")
            .Add(p => p.Value, darkMode)
            .AddChildContent<PasskeysPage>());

        root.WaitForAssertion(() => Assert.Equal("1Password", root.Find("[data-testid=passkey-provider-name]").TextContent.Trim()), Patience);
        var icon = root.Find("[data-testid=passkey-provider] [data-testid=passkey-provider-icon]");
        Assert.NotEqual(listed.LightIcon, listed.DarkIcon);
        Assert.Equal(darkMode ? listed.DarkIcon : listed.LightIcon, icon.GetAttribute("src"));
        Assert.StartsWith("data:image/svg+xml;base64,", icon.GetAttribute("src"));
        Assert.Equal("1Password logo", icon.GetAttribute("alt"));
        Assert.Equal("(reported by the passkey)", root.Find("[data-testid=passkey-provider] [data-testid=passkey-provider-note]").TextContent.Trim());
    }

    [Theory]
    [InlineData("00000000-0000-0000-0000-000000000000")]
    [InlineData("01020304-0506-0708-0102-030405060708")]
    public async Task A_passkey_whose_aaguid_is_not_listed_shows_no_provider(string aaguid)
    {
        var userId = await Bench.CreateUserAsync();
        using var authenticator = Bench.NewAuthenticator();
        authenticator.Aaguid = Guid.Parse(aaguid);
        await Bench.RegisterAsync(userId, authenticator, "Key");
        await SignInAsync(userId);

        var page = Render<PasskeysPage>();

        page.WaitForAssertion(() => Assert.Equal("Key", page.Find("[data-testid=passkey-name]").TextContent), Patience);
        Assert.Empty(page.FindAll("[data-testid=passkey-provider]"));
        Assert.Empty(page.FindAll("img"));
        Assert.DoesNotContain("reported by the passkey", page.Markup);
    }

    [Fact]
    public async Task Each_visit_and_each_change_tells_passkey_managers_the_accounts_passkeys_and_address()
    {
        var (userId, email) = await Bench.CreateAccountAsync();
        await SignInAsync(userId, email);
        using var authenticator = Bench.NewAuthenticator();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);
        var userHandle = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(userId));

        var page = Render<PasskeysPage>();

        // WebAuthn L3 §5.1.10.2 and §5.1.10.3, once the list is shown: no passkey is left for this account.
        var visit = Assert.IsType<AllAcceptedCredentialsSignal>(Assert.Single(await WaitForCallsAsync("signalAllAcceptedCredentials", 1)).Arguments[0]);
        Assert.Equal(("localhost", userHandle), (visit.RpId, visit.UserId));
        Assert.Empty(visit.AllAcceptedCredentialIds);
        Assert.Equal(
            new CurrentUserDetailsSignal("localhost", userHandle, email, email),
            Assert.Single(await WaitForCallsAsync("signalCurrentUserDetails", 1)).Arguments[0]);

        Add(page, "Laptop");
        await WaitForCallsAsync("create", 1);
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        var added = Assert.IsType<AllAcceptedCredentialsSignal>((await WaitForCallsAsync("signalAllAcceptedCredentials", 2))[1].Arguments[0]);
        Assert.Equal([Base64Url.EncodeToString(authenticator.Credentials[0].Id)], added.AllAcceptedCredentialIds);
        Assert.Equal(("localhost", userHandle), (added.RpId, added.UserId));
        await WaitForCallsAsync("signalCurrentUserDetails", 2);
        Assert.Equal("Laptop", page.Find("[data-testid=passkey-name]").TextContent);
    }

    [Fact]
    public async Task A_browser_that_rejects_or_lacks_the_signal_api_leaves_the_page_working()
    {
        PasskeyModule.Setup<string>("signalAllAcceptedCredentials", _ => true).SetException(new JSException("SecurityError"));
        PasskeyModule.Setup<string>("signalCurrentUserDetails", _ => true).SetResult("unsupported");
        var (page, userId) = await RenderForNewUserAsync();
        await WaitForCallsAsync("signalCurrentUserDetails", 1);
        using var authenticator = Bench.NewAuthenticator();
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);

        Add(page, "Laptop");
        await WaitForCallsAsync("create", 1);
        create.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));

        await WaitForCallsAsync("signalCurrentUserDetails", 2);
        Assert.Equal(2, PasskeyModule.Invocations["signalAllAcceptedCredentials"].Count);
        page.WaitForAssertion(() => Assert.Equal("Laptop", page.Find("[data-testid=passkey-name]").TextContent), Patience);
        Assert.Empty(page.FindAll("[role=alert]"));
        Assert.Single(await Bench.PasskeysAsync(userId));
    }
}
