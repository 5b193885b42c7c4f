using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class RecoveryKeyRegenerationTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    [Fact]
    public async Task A_new_key_is_shown_once_after_the_password_and_the_old_one_stops_working()
    {
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        var oldKey = RecoveryKeyCodec.Parse(string.Join(' ', await person.SignUpAndReadRecoveryKeyAsync(email))).Key!;
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());

        var page = await (await person.Http.GetAsync("/account/recovery-key")).ReadHtmlAsync();
        Assert.Contains("cannot be shown again", page.Body!.TextContent);
        var (shown, locations) = await person.FollowAsync(
            await person.Http.SubmitAsync(page, "/account/recovery-key", "new-recovery-key", new Dictionary<string, string> { ["Input.Password"] = PortalScenario.StrongPassword }));

        Assert.Equal(["/account/recovery-key/new"], locations);
        var newKey = RecoveryKeyCodec.Parse(string.Join(' ', PortalScenario.RecoveryKeyWords(await shown.ReadHtmlAsync()))).Key!;
        await using var scope = app.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<RecoveryKeyService>();
        Assert.True(await keys.MatchesAsync(userId, newKey));
        Assert.False(await keys.MatchesAsync(userId, oldKey));
    }

    [Fact]
    public async Task A_wrong_password_keeps_the_current_key()
    {
        using var person = new PortalScenario(app);
        await person.SignUpAndReadRecoveryKeyAsync(PortalScenario.NewEmail());
        var before = await app.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Select(k => new { k.UserId, k.KeyHash }).ToListAsync());

        var response = await person.Http.SubmitAsync("/account/recovery-key", "new-recovery-key", new Dictionary<string, string> { ["Input.Password"] = "not my password" });

        Assert.Equal("That password is not right.", (await response.ReadHtmlAsync()).QuerySelector("[role=alert]")!.TextContent.Trim());
        Assert.Equivalent(before, await app.WithDbAsync(db => db.RecoveryKeys.AsNoTracking().Select(k => new { k.UserId, k.KeyHash }).ToListAsync()));
    }

    [Fact]
    public async Task Disabling_the_authenticator_app_needs_the_password()
    {
        var bench = new TotpBench(app);
        using var person = new PortalScenario(app);
        var email = PortalScenario.NewEmail();
        await person.SignUpAndReadRecoveryKeyAsync(email);
        var userId = await app.WithDbAsync(db => db.Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync());
        await bench.EnableAsync(userId);

        var wrong = await bench.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, "not my password"));
        Assert.Equal(TwoFactorMessages.WrongPassword, wrong);
        Assert.Equal(1, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));

        var right = await bench.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().DisableAsync(userId, PortalScenario.StrongPassword));
        Assert.Null(right);
        Assert.Equal(0, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));
    }
}
