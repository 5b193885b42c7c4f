using System.Net;
using System.Text.RegularExpressions;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Accounts.EmailAddresses;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Telling from the answers whether an address has an account, which second factor it uses, or whether a login
/// session exists. Each probe of a real account is compared with the same probe of an address that has none: the
/// answers must be the same, byte for byte once the address itself and per-response tokens are set aside.
/// </summary>
public sealed partial class EnumerationAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const string WrongPassword = "not the password at all";

    public static TheoryData<string> AccountKinds => new() { "no second factor", "a passkey", "an authenticator app", "an address never verified" };

    /// <summary>An account of <paramref name="kind"/>; returns its id and address.</summary>
    private async Task<(string UserId, string Email)> AccountAsync(string kind)
    {
        if (kind == "an address never verified")
        {
            using var person = new PortalScenario(portal.App);
            var address = PortalScenario.NewEmail();
            await person.SignUpAsync(address);
            return (await portal.App.WithDbAsync(db => db.Users.Where(u => u.Email == address).Select(u => u.Id).SingleAsync()), address);
        }

        var (userId, email) = await portal.Passkeys.CreateAccountAsync();
        if (kind == "a passkey")
        {
            using var authenticator = portal.Passkeys.NewAuthenticator();
            await portal.Passkeys.RegisterAsync(userId, authenticator);
        }
        else if (kind == "an authenticator app")
        {
            await portal.Totp.EnableAsync(userId);
        }

        return (userId, email);
    }

    private static string PasswordKey(string email) => AttemptLimits.PasswordKey(email.ToUpperInvariant());

    /// <summary>What an API caller can observe: status, headers but the date, and the problem without its trace id.</summary>
    private static async Task<string> ObservableAsync(HttpResponseMessage response) =>
        $"{(int)response.StatusCode} {string.Join(",", response.Headers.Select(h => h.Key).Where(k => k != "Date").Order(StringComparer.Ordinal))} "
        + TraceId().Replace(await response.Content.ReadAsStringAsync(), "");

    /// <summary>
    /// What a browser can observe of a page, with the typed address and what every response encrypts or draws anew set
    /// aside: the antiforgery token, the CSP nonce and Blazor's protected component state.
    /// </summary>
    private static async Task<string> ObservablePageAsync(HttpResponseMessage response, string email)
    {
        var html = (await response.Content.ReadAsStringAsync()).Replace(email, "EMAIL", StringComparison.Ordinal);
        html = Token().Replace(html, "TOKEN");
        html = Nonce().Replace(html, "NONCE");
        html = PersistedState().Replace(html, "STATE");
        IEnumerable<string> cookies = response.Headers.TryGetValues("Set-Cookie", out var set) ? set.Select(c => c[..c.IndexOf('=', StringComparison.Ordinal)]).Order(StringComparer.Ordinal) : [];
        return $"{(int)response.StatusCode} cookies:{string.Join(",", cookies)}\n{html}";
    }

    [Theory]
    [MemberData(nameof(AccountKinds))]
    public async Task A_wrong_password_over_the_api_answers_as_for_an_address_without_an_account(string kind)
    {
        var (userId, email) = await AccountAsync(kind);
        var unknown = PortalScenario.NewEmail();
        using var client = portal.NewApiClient();
        var before = await portal.SnapshotAsync();

        var known = await client.LogInAsync(email, WrongPassword);
        var nobody = await client.LogInAsync(unknown, WrongPassword);

        await AttackPortal.AssertProblemAsync(known, HttpStatusCode.Unauthorized, "INVALID_CREDENTIALS");
        Assert.Equal(await ObservableAsync(nobody), await ObservableAsync(known));
        // Only the owner learns of it, in the account's activity; both addresses count toward their lockout alike.
        await DatabaseState.AssertChangedOnlyAsync(
            portal.App, before, Expected.WrongGuessCounted(PasswordKey(email)), Expected.WrongGuessCounted(PasswordKey(unknown)), Expected.Event(userId, SecurityEventKind.PasswordRejected));
    }

    [Theory]
    [MemberData(nameof(AccountKinds))]
    public async Task A_wrong_password_on_the_login_form_shows_the_page_shown_for_an_address_without_an_account(string kind)
    {
        var (userId, email) = await AccountAsync(kind);
        var unknown = PortalScenario.NewEmail();
        using var first = new Browser(portal.App);
        using var second = new Browser(portal.App);
        await first.Http.GetAsync("/login");
        await second.Http.GetAsync("/login");
        var before = await portal.SnapshotAsync();

        var known = await first.LogInAsync(email, WrongPassword);
        var nobody = await second.LogInAsync(unknown, WrongPassword);

        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
        Assert.Equal("Incorrect email or password.", (await known.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Equal(await ObservablePageAsync(nobody, unknown), await ObservablePageAsync(known, email));
        Assert.Null(first.PendingLoginSecret);
        await DatabaseState.AssertChangedOnlyAsync(
            portal.App, before, Expected.WrongGuessCounted(PasswordKey(email)), Expected.WrongGuessCounted(PasswordKey(unknown)), Expected.Event(userId, SecurityEventKind.PasswordRejected));
    }

    [Theory]
    [InlineData("a real login's id without its secret")]
    [InlineData("a real login's id with another login's secret")]
    public async Task Probing_login_session_ids_answers_as_for_an_id_that_never_existed(string probe)
    {
        using var real = await portal.ApiPasskeyLoginAsync();
        using var other = await portal.ApiPasskeyLoginAsync();
        var invented = System.Buffers.Text.Base64Url.EncodeToString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var before = await portal.SnapshotAsync();

        var probed = await real.Client.StatusAsync(real.SessionId, probe.EndsWith("without its secret", StringComparison.Ordinal) ? null : other.Secret);
        var never = await real.Client.StatusAsync(invented, other.Secret);

        await AttackPortal.AssertProblemAsync(probed, HttpStatusCode.NotFound, "SESSION_NOT_FOUND");
        Assert.Equal(await ObservableAsync(never), await ObservableAsync(probed));
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task Asking_to_move_to_an_address_that_has_an_account_answers_as_for_a_free_one()
    {
        var (_, taken) = await portal.Passkeys.CreateAccountAsync();
        var free = PortalScenario.NewEmail();
        var answers = new List<string>();
        foreach (var address in new[] { taken, free })
        {
            var (_, email) = await portal.Passkeys.CreateAccountAsync();
            using var browser = new Browser(portal.App);
            await browser.SignInAsync(email);
            var response = await browser.Http.SubmitAsync(EmailVerifications.EmailChangePath, "new-email", new Dictionary<string, string> { ["EmailInput.Email"] = address });
            answers.Add((await ObservablePageAsync(response, address)).Replace(email, "OWN", StringComparison.Ordinal));
        }

        Assert.Equal(answers[1], answers[0]);
        // The taken address's owner gets the code like any new address would: that mailbox alone learns anything.
        Assert.Contains(await Mailbox.MessagesToAsync(portal.App, taken), m => m.Subject == "Confirm your new email address");
    }

    [GeneratedRegex("\"traceId\":\"[^\"]*\"")]
    private static partial Regex TraceId();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"[^\"]*\"")]
    private static partial Regex Token();

    [GeneratedRegex("nonce=\"[^\"]*\"")]
    private static partial Regex Nonce();

    [GeneratedRegex("<!--Blazor-Server-Component-State:[^>]*-->")]
    private static partial Regex PersistedState();
}
