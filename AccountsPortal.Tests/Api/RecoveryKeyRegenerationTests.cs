using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class RecoveryKeyRegenerationTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    [Fact]
    public async Task A_new_key_is_shown_once_after_a_recent_confirmation_and_the_old_one_stops_working()
    {
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        var oldKey = RecoveryKeyCodec.Parse(string.Join(' ', await person.SignUpAndReadRecoveryKeyAsync(email))).Key!;
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

        // Signed up (and so in) a moment ago: that counts as a confirmation.
        var page = await (await person.Http.GetAsync("/account/recovery-key")).ReadHtmlAsync();
        Assert.Contains("cannot be shown again", page.Body!.TextContent);
        var (shown, locations) = await person.FollowAsync(
            await person.Http.SubmitAsync(page, "/account/recovery-key", "new-recovery-key", new Dictionary<string, string>()));

        Assert.Equal(["/account/recovery-key/new"], locations);
        var newKey = RecoveryKeyCodec.Parse(string.Join(' ', PortalScenario.RecoveryKeyWords(await shown.ReadHtmlAsync()))).Key!;
        await using var scope = app.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<RecoveryKeyService>();
        Assert.True(await keys.MatchesAsync(userId, newKey));
        Assert.False(await keys.MatchesAsync(userId, oldKey));
    }

    [Fact]
    public async Task The_browser_that_generates_a_new_key_stays_signed_in_when_that_post_also_rechecks_its_session()
    {
        using var app = new PortalAppFactory();
        using var person = new PortalScenario(app);
        await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        var page = await (await person.Http.GetAsync("/account/recovery-key")).ReadHtmlAsync();

        // Past the session revalidation interval (a minute at most), within the confirmation window (five minutes):
        // the post is the request on which the cookie is rechecked and renewed, after the new key rotated the stamp.
        app.Time.Advance(TimeSpan.FromMinutes(2));
        var (shown, locations) = await person.FollowAsync(
            await person.Http.SubmitAsync(page, "/account/recovery-key", "new-recovery-key", new Dictionary<string, string>()));

        Assert.Equal(["/account/recovery-key/new"], locations);
        Assert.Equal(Features.Accounts.RecoveryKeys.RecoveryKeyCodec.WordsPerKey, PortalScenario.RecoveryKeyWords(await shown.ReadHtmlAsync()).Length);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await person.Http.GetAsync("/account")).StatusCode);
    }

    [Fact]
    public async Task Without_a_recent_confirmation_the_page_asks_for_one_and_a_post_changes_nothing()
    {
        using var app = new PortalAppFactory();
        using var person = new PortalScenario(app);
        await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        var freshPage = await (await person.Http.GetAsync("/account/recovery-key")).ReadHtmlAsync();
        var before = await app.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Select(k => new { k.UserId, k.KeyHash }).ToListAsync());

        // Someone with this cookie, six minutes later: the sign-in no longer counts as a confirmation.
        app.Time.Advance(TimeSpan.FromMinutes(6));
        var stalePage = await (await person.Http.GetAsync("/account/recovery-key")).ReadHtmlAsync();
        var response = await person.Http.SubmitAsync(freshPage, "/account/recovery-key", "new-recovery-key", new Dictionary<string, string>());

        var confirm = stalePage.QuerySelectorAll("a").Single(a => a.TextContent.Contains("Confirm it's you"));
        Assert.StartsWith("/account/confirm?returnUrl=%2Faccount%2Frecovery-key", confirm.GetAttribute("href"));
        Assert.DoesNotContain(stalePage.Forms, f => f.QuerySelector("input[name=_handler][value='new-recovery-key']") is not null);
        // The page no longer renders the form, so a post of it (kept from earlier) is refused unread.
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equivalent(before, await app.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Select(k => new { k.UserId, k.KeyHash }).ToListAsync()));
    }

    [Fact]
    public async Task Disabling_the_authenticator_app_needs_a_recent_confirmation_of_this_browser()
    {
        var bench = new TotpBench(app);
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        await bench.EnableAsync(userId);
        var browser = await bench.Passkeys.SignedInBrowserAsync(userId);
        app.Time.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));

        var stale = await bench.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, browser));
        Assert.Equal(Features.Accounts.Sessions.RecentConfirmation.Required, stale);
        Assert.Equal(1, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));

        var fresh = await bench.Passkeys.SignedInBrowserAsync(userId);
        Assert.Null(await bench.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, fresh)));
        Assert.Equal(0, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));
    }
}
