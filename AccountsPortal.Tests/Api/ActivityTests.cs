using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class ActivityTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private Task<List<SecurityEventKind>> KindsAsync(string userId) =>
        app.WithDbAsync(db => db.SecurityEvents.Where(e => e.UserId == userId).OrderBy(e => e.Id).Select(e => e.Kind).ToListAsync());

    [Fact]
    public async Task Sign_up_a_wrong_password_and_a_sign_in_are_listed_for_the_owner()
    {
        var email = PortalScenario.NewEmail();
        using (var signUp = new PortalScenario(app))
        {
            await signUp.SignUpAndReadRecoveryKeyAsync(email);
        }

        using var person = new PortalScenario(app);
        await person.LogInAsync(email, "not my password");
        await person.FollowAsync(await person.LogInAsync(email));

        var page = await (await person.Http.GetAsync("/account/activity")).ReadHtmlAsync();
        var listed = page.QuerySelectorAll("[data-testid=security-event]").Select(e => e.TextContent).ToList();
        Assert.Equal(6, listed.Count);
        Assert.StartsWith("Signed in from a browser or app not seen before", listed[0]);
        Assert.StartsWith("Signed in", listed[1]);
        Assert.StartsWith("Wrong password entered", listed[2]);
        Assert.StartsWith("Signed in", listed[3]);
        Assert.StartsWith($"Email address verified: {email}", listed[4]);
        Assert.StartsWith("Account created", listed[5]);
    }

    [Fact]
    public async Task Passkey_changes_are_recorded_with_their_names()
    {
        var bench = new PasskeyBench(app);
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator, "Phone");
        var browser = await bench.SignedInBrowserAsync(userId);
        await bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().RenameAsync(userId, passkeyId, "Old phone", browser));
        await bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, browser));

        Assert.Equal(
            [SecurityEventKind.PasskeyAdded, SecurityEventKind.PasskeyRenamed, SecurityEventKind.PasskeyDeleted],
            (await KindsAsync(userId)).Where(k => k is not SecurityEventKind.OtherSessionsEnded));
        var renamed = await app.WithDbAsync(db => db.SecurityEvents.SingleAsync(e => e.UserId == userId && e.Kind == SecurityEventKind.PasskeyRenamed));
        Assert.Equal("Phone → Old phone", renamed.Detail);
    }
}
