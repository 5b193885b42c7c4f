using System.Net;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class SessionsTests(AppApiFixture fixture) : IClassFixture<AppApiFixture>
{
    private PortalAppFactory App => fixture.App;

    private async Task<(string UserId, string Email)> AccountAsync()
    {
        using var signUp = new PortalScenario(App);
        var email = PortalScenario.NewEmail();
        await signUp.SignUpAndReadRecoveryKeyAsync(email);
        return (await App.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync()), email);
    }

    private async Task<PortalScenario> SignedInAsync(string email)
    {
        var person = new PortalScenario(App);
        await person.FollowAsync(await person.LogInAsync(email));
        Assert.Equal(HttpStatusCode.OK, (await person.Http.GetAsync("/account")).StatusCode);
        return person;
    }

    private Task<List<string>> BrowserSessionIdsAsync(string userId) =>
        App.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).Select(s => s.Id).ToListAsync());

    [Fact]
    public async Task Each_signed_in_browser_has_a_session_that_can_be_signed_out_from_elsewhere()
    {
        var (userId, email) = await AccountAsync();
        await App.WithDbAsync(db => db.BrowserSessions.Where(s => s.UserId == userId).ExecuteDeleteAsync());
        using var laptop = await SignedInAsync(email);
        var laptopSession = Assert.Single(await BrowserSessionIdsAsync(userId));
        using var phone = await SignedInAsync(email);

        await using (var scope = App.Services.CreateAsyncScope())
        {
            var sessions = scope.ServiceProvider.GetRequiredService<SignedInSessions>();
            var listed = await sessions.BrowsersAsync(userId, laptopSession);
            Assert.Equal(2, listed.Count);
            Assert.True(listed[0].IsCurrent);
            Assert.Equal("Unknown browser", listed[1].Name);
            Assert.Null(await sessions.SignOutBrowserAsync(userId, listed[1].Key, laptopSession));
        }

        Assert.True((await phone.Http.GetAsync("/account")).IsRedirect());
        Assert.Equal(HttpStatusCode.OK, (await laptop.Http.GetAsync("/account")).StatusCode);
    }

    [Fact]
    public async Task Signing_out_removes_the_browsers_session()
    {
        var (userId, email) = await AccountAsync();
        using var person = await SignedInAsync(email);
        var before = (await BrowserSessionIdsAsync(userId)).Count;

        await person.Http.SubmitAsync("/account", "/account/logout", new Dictionary<string, string>());

        Assert.Equal(before - 1, (await BrowserSessionIdsAsync(userId)).Count);
    }

    [Fact]
    public async Task Sign_out_everywhere_else_keeps_this_browser_and_signs_out_the_rest_and_the_apps()
    {
        var (userId, email) = await AccountAsync();
        using var phone = await SignedInAsync(email);
        var before = await BrowserSessionIdsAsync(userId);
        using var laptop = await SignedInAsync(email);
        var laptopSession = Assert.Single((await BrowserSessionIdsAsync(userId)).Except(before));
        using var app = new AppApiClient(App.CreatePortalClient());
        var token = (await AppApiClient.JsonAsync(await app.LogInAsync(email))).GetProperty("token").GetString()!;

        // The sessions page lists the app by its registered name.
        Assert.Contains(AppApiClient.ClientName, await (await laptop.Http.GetAsync("/account/sessions")).Content.ReadAsStringAsync());

        await using (var scope = App.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<SignedInSessions>().SignOutEverywhereElseAsync(userId, laptopSession);
        }

        Assert.Equal([laptopSession], await BrowserSessionIdsAsync(userId));
        Assert.Equal(HttpStatusCode.OK, (await laptop.Http.GetAsync("/account")).StatusCode);
        Assert.True((await phone.Http.GetAsync("/account")).IsRedirect());
        Assert.Equal(HttpStatusCode.Unauthorized, (await app.MeAsync(token)).StatusCode);
    }
}
