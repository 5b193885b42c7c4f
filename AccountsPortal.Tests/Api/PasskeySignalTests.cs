using System.Buffers.Text;
using System.Text;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// What the portal tells browsers' passkey managers through the WebAuthn Signal API (WebAuthn L3 §5.1.10): the account's
/// passkeys and name (<see cref="PasskeySignals"/>), and which refused login answers name a passkey the account deleted.
/// </summary>
public sealed class PasskeySignalTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private readonly PasskeyBench bench = new(app);

    private static string Text(byte[] bytes) => Base64Url.EncodeToString(bytes);

    private Task<PasskeyOutcome> DeleteAsync(string userId, long passkeyId) => bench.WithAsync(async s =>
        await s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, passkeyId, await PasskeyBench.SignedInBrowserAsync(s, userId)));

    [Fact]
    public async Task The_account_signals_carry_its_rp_id_user_handle_remaining_credential_ids_and_address()
    {
        var (userId, email) = await bench.CreateAccountAsync();
        using var laptop = bench.NewAuthenticator();
        using var phone = bench.NewAuthenticator();
        using var key = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, laptop, "Laptop");
        var phoneId = await bench.RegisterAsync(userId, phone, "Phone");
        await bench.RegisterAsync(userId, key, "Key");
        Assert.True((await DeleteAsync(userId, phoneId)).Succeeded);

        var signals = await bench.WithAsync(s => s.GetRequiredService<PasskeySignals>().ForAccountAsync(userId));

        var userHandle = Text(Encoding.UTF8.GetBytes(userId));
        Assert.NotNull(signals);
        Assert.Equal("localhost", signals.AllAcceptedCredentials.RpId);
        Assert.Equal(userHandle, signals.AllAcceptedCredentials.UserId);
        Assert.Equal([Text(laptop.Credentials[0].Id), Text(key.Credentials[0].Id)], signals.AllAcceptedCredentials.AllAcceptedCredentialIds);
        Assert.Equal(new CurrentUserDetailsSignal("localhost", userHandle, email, email), signals.CurrentUserDetails);
    }

    [Fact]
    public async Task An_account_without_passkeys_signals_an_empty_list_and_no_account_signals_nothing()
    {
        var userId = await bench.CreateUserAsync();

        var signals = await bench.WithAsync(s => s.GetRequiredService<PasskeySignals>().ForAccountAsync(userId));
        var nobody = await bench.WithAsync(s => s.GetRequiredService<PasskeySignals>().ForAccountAsync("no-such-account"));

        Assert.NotNull(signals);
        Assert.Empty(signals.AllAcceptedCredentials.AllAcceptedCredentialIds);
        Assert.Null(nobody);
    }

    [Fact]
    public async Task A_passkey_the_account_deleted_is_named_when_its_authenticator_gives_the_accounts_user_handle()
    {
        var userId = await bench.CreateUserAsync();
        using var kept = bench.NewAuthenticator();
        using var lost = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, kept, "Kept");
        Assert.True((await DeleteAsync(userId, await bench.RegisterAsync(userId, lost, "Lost"))).Succeeded);
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);

        var result = await bench.CompleteLoginAsync(sessionId, start.CeremonyId, lost.GetAssertion(start.OptionsJson!, new AssertionOverrides { Credential = lost.Credentials[0] }));

        Assert.Equal(PasskeyMessages.NotThisAccount, result.Error);
        Assert.Equal(Text(lost.Credentials[0].Id), result.UnknownCredentialId);
        Assert.Equal(1, (await bench.SessionAsync(sessionId)).FailedAttempts);
    }

    [Fact]
    public async Task A_passkey_deleted_while_the_login_dialog_was_open_is_named_also_without_a_user_handle()
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(userId, authenticator);
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);
        Assert.True((await DeleteAsync(userId, passkeyId)).Succeeded);

        var result = await bench.CompleteLoginAsync(sessionId, start.CeremonyId, authenticator.GetAssertion(start.OptionsJson!, new AssertionOverrides { OmitUserHandle = true }));

        // The ceremony's allowCredentials, built from the account's passkeys, listed it.
        Assert.Equal(PasskeyMessages.NotThisAccount, result.Error);
        Assert.Equal(Text(authenticator.Credentials[0].Id), result.UnknownCredentialId);
    }

    [Fact]
    public async Task A_deleted_passkey_without_a_user_handle_that_the_ceremony_did_not_offer_is_not_named()
    {
        var userId = await bench.CreateUserAsync();
        using var kept = bench.NewAuthenticator();
        using var lost = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, kept, "Kept");
        Assert.True((await DeleteAsync(userId, await bench.RegisterAsync(userId, lost, "Lost"))).Succeeded);
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);

        var result = await bench.CompleteLoginAsync(sessionId, start.CeremonyId, lost.GetAssertion(start.OptionsJson!, new AssertionOverrides { Credential = lost.Credentials[0], OmitUserHandle = true }));

        // Nothing in the answer or the ceremony says whose it was.
        Assert.Equal(PasskeyMessages.NotThisAccount, result.Error);
        Assert.Null(result.UnknownCredentialId);
    }

    [Theory]
    [InlineData("its own user handle")]
    [InlineData("no user handle")]
    public async Task Another_accounts_live_passkey_is_never_named(string claim)
    {
        var userId = await bench.CreateUserAsync();
        using var own = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, own);
        var otherId = await bench.CreateUserAsync();
        using var others = bench.NewAuthenticator();
        await bench.RegisterAsync(otherId, others);
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);

        var result = await bench.CompleteLoginAsync(sessionId, start.CeremonyId, others.GetAssertion(start.OptionsJson!, new AssertionOverrides
        {
            Credential = others.Credentials[0],
            OmitUserHandle = claim == "no user handle",
        }));

        // It may be the same person's other account: its passkey must stay in their passkey manager.
        Assert.Equal(PasskeyMessages.NotThisAccount, result.Error);
        Assert.Null(result.UnknownCredentialId);
        Assert.Single(await bench.PasskeysAsync(otherId));
    }

    [Fact]
    public async Task Verified_and_otherwise_refused_answers_name_no_credential()
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, authenticator);

        var refused = await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator, new AssertionOverrides { TamperSignature = true });
        var verified = await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator);

        Assert.Equal(PasskeyMessages.NotVerified, refused.Error);
        Assert.Null(refused.UnknownCredentialId);
        Assert.True(verified.Succeeded, verified.Error);
        Assert.Null(verified.UnknownCredentialId);
        Assert.Single(await app.WithDbAsync(db => db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).ToListAsync()));
    }
}
