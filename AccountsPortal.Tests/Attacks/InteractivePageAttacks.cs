using System.Security.Cryptography;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.Components;
using AccountsPortal.Tests.TestSupport;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using PasskeysPage = AccountsPortal.Features.Passkeys.Passkeys;
using VerifyPage = AccountsPortal.Features.Passkeys.Verify;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// The same malformed and forged answers, coming back from the browser's passkey dialog into the interactive pages
/// (bunit, with the portal's real services): the page shows the reason, its circuit stays alive (Try again, or the
/// next Add, works), and the database changes only as a refusal should.
/// </summary>
public sealed class InteractivePageAttacks : PortalComponentTest
{
    /// <summary>The emails the setup queued are sent first, so that the background sender cannot change the database under a snapshot.</summary>
    private async Task<DatabaseState> SnapshotAsync()
    {
        await Mailbox.MessagesToAsync(App, "nobody@example.test");
        return await DatabaseState.CaptureAsync(App);
    }

    public static TheoryData<string, string, bool> ForgedLoginAnswers => new()
    {
        { "not JSON", PasskeyMessages.Unreadable, true },
        { "an answer of 17 KB", PasskeyMessages.Unreadable, false },
        { "an extension value that is a CBOR tag", PasskeyMessages.NotVerified, true },
        { "authenticatorData of 36 bytes", PasskeyMessages.Unreadable, true },
        { "the opaque origin null", PasskeyMessages.WrongOrigin, true },
        { "another account's passkey without userHandle", PasskeyMessages.NotThisAccount, true },
    };

    [Theory]
    [MemberData(nameof(ForgedLoginAnswers))]
    public async Task The_verify_page_shows_why_a_forged_answer_failed_and_tries_again(string variant, string message, bool namesItsChallenge)
    {
        var userId = await Bench.CreateUserAsync();
        using var own = Bench.NewAuthenticator();
        using var stranger = Bench.NewAuthenticator();
        await Bench.RegisterAsync(userId, own);
        await Bench.RegisterAsync(await Bench.CreateUserAsync(), stranger);
        var sessionId = await Bench.StartLoginAsync(userId);
        var get = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        PersistentState.Persist("passkey-verify-started-here", true);
        PersistentState.Persist("passkey-verify-visitor", new VerifyVisitor(Bench.ProofOf(sessionId), "198.51.100.4"));
        Services.GetRequiredService<NavigationManager>().NavigateTo($"/passkeys/verify?session={Uri.EscapeDataString(sessionId)}");
        var page = Render<VerifyPage>();
        await WaitForCallsAsync("get", 1);
        var answer = Forged(variant, LastOptions("get"), own, stranger);
        var before = await SnapshotAsync();

        get.SetResult(new BrowserCredential(true, answer, null, null));

        page.WaitForAssertion(() => Assert.Equal(message, page.Find("[role=alert]").TextContent.Trim()));
        Assert.Equal("Passkey login failed", page.Find("h1").TextContent);
        Expected[] expected = namesItsChallenge
            ? [Expected.FailedAttemptCounted(sessionId), Expected.ChallengeUsed(boundTo: sessionId)]
            : [Expected.FailedAttemptCounted(sessionId)];
        await DatabaseState.AssertChangedOnlyAsync(App, before, expected);

        // The circuit is alive: Try again opens the dialog once more, and the real passkey signs in.
        var retry = PasskeyModule.Setup<BrowserCredential>("get", _ => true);
        await page.InvokeAsync(() => page.FindAll("button").Single(b => b.TextContent.Contains("Try again", StringComparison.Ordinal)).Click());
        await WaitForCallsAsync("get", 2);
        retry.SetResult(new BrowserCredential(true, own.GetAssertion(LastOptions("get")), null, null));
        var navigation = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith(LoginSessionService.CompletionUrl(sessionId), navigation.Uri));
    }

    public static TheoryData<string> ForgedRegistrations => new()
    {
        "an attestation object followed by trailing bytes",
        "an RSA key of 1024 bits",
        "a credential id of 1024 bytes",
    };

    [Theory]
    [MemberData(nameof(ForgedRegistrations))]
    public async Task The_passkeys_page_shows_why_a_forged_registration_failed_and_adds_the_next_one(string variant)
    {
        var userId = await Bench.CreateUserAsync();
        await SignInAsync(userId);
        var page = Render<PasskeysPage>();
        page.WaitForAssertion(() => Assert.Contains("You have no passkeys", page.Find("[data-testid=passkey-status]").TextContent));
        var create = PasskeyModule.Setup<BrowserCredential>("create", _ => true);
        await AddAsync(page, "Forged");
        await WaitForCallsAsync("create", 1);
        var options = LastOptions("create");
        using var rsa = RSA.Create(1024);
        var answer = variant switch
        {
            "an attestation object followed by trailing bytes" => WebAuthnForge.Registration(options, App.Origin, mutate: a => [.. a, 0xA0]),
            "an RSA key of 1024 bits" => WebAuthnForge.Registration(options, App.Origin, coseKey: WebAuthnForge.Cbor(w =>
            {
                w.WriteStartMap(4);
                w.WriteInt32(1);
                w.WriteInt32(3);
                w.WriteInt32(3);
                w.WriteInt32(-257);
                w.WriteInt32(-1);
                w.WriteByteString(rsa.ExportParameters(false).Modulus!);
                w.WriteInt32(-2);
                w.WriteByteString(rsa.ExportParameters(false).Exponent!);
                w.WriteEndMap();
            })),
            _ => WebAuthnForge.Registration(options, App.Origin, credentialId: RandomNumberGenerator.GetBytes(1024)),
        };
        var ceremonyId = await App.WithDbAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.SingleAsync(
            db.PasskeyCeremonies.Where(c => c.UserId == userId && c.ConsumedAt == null).Select(c => c.Id)));
        var before = await SnapshotAsync();

        create.SetResult(new BrowserCredential(true, answer, null, null));

        var message = variant.StartsWith("an attestation object", StringComparison.Ordinal) ? PasskeyMessages.Unreadable : PasskeyMessages.NotVerified;
        page.WaitForAssertion(() => Assert.Equal(message, page.Find("[role=alert]").TextContent.Trim()));
        await DatabaseState.AssertChangedOnlyAsync(App, before, Expected.CeremonyConsumed(ceremonyId));

        // The circuit is alive: the next Add creates a real passkey.
        using var authenticator = Bench.NewAuthenticator();
        var next = PasskeyModule.Setup<BrowserCredential>("create", _ => true);
        await AddAsync(page, "Laptop");
        await WaitForCallsAsync("create", 2);
        next.SetResult(new BrowserCredential(true, authenticator.CreateCredential(LastOptions("create")), null, null));
        page.WaitForAssertion(() => Assert.Equal("Laptop", page.Find("[data-testid=passkey-name]").TextContent));
    }

    /// <summary>Types the name and presses Add once the page is idle, each on the renderer's thread (the page may still be re-rendering).</summary>
    private static async Task AddAsync(IRenderedComponent<PasskeysPage> page, string name)
    {
        page.WaitForAssertion(() => Assert.False(AddButton(page).HasAttribute("disabled")));
        await page.InvokeAsync(() => page.Find("input").Input(name));
        await page.InvokeAsync(() => AddButton(page).Click());
    }

    private static AngleSharp.Dom.IElement AddButton(IRenderedComponent<PasskeysPage> page) =>
        page.FindAll("button").Single(b => b.TextContent.Contains("Add passkey", StringComparison.Ordinal));

    private static string Forged(string variant, string options, SoftwareAuthenticator own, SoftwareAuthenticator stranger)
    {
        var credential = own.Credentials[0];
        string Signed(byte[] rest) => WebAuthnForge.Assertion(
            credential,
            WebAuthnForge.AuthenticatorData(WebAuthnForge.UserPresent | WebAuthnForge.UserVerified | WebAuthnForge.ExtensionData, 3, rest: rest),
            WebAuthnForge.ClientData(WebAuthnForge.ChallengeOf(options), "http://localhost"),
            credential.UserHandle);

        return variant switch
        {
            "not JSON" => "{ not json",
            "an answer of 17 KB" => new string('x', 17 * 1024),
            "an extension value that is a CBOR tag" => Signed([0xA1, 0x63, (byte)'f', (byte)'o', (byte)'o', 0xC1, 0x01]),
            "authenticatorData of 36 bytes" => Edited(own.GetAssertion(options), a => a["response"]!["authenticatorData"] = System.Buffers.Text.Base64Url.EncodeToString(new byte[36])),
            "the opaque origin null" => own.GetAssertion(options, new AssertionOverrides { Origin = "null" }),
            "another account's passkey without userHandle" => stranger.GetAssertion(options, new AssertionOverrides { Credential = stranger.Credentials[0], OmitUserHandle = true }),
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, null),
        };
    }

    private static string Edited(string json, Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(json)!;
        edit(node);
        return node.ToJsonString();
    }
}
