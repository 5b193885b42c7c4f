using System.Buffers.Text;
using System.Text;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// What the portal tells browsers' passkey managers through the WebAuthn Signal API (WebAuthn L3 §5.1.10): the account's
/// passkeys and name (<see cref="PasskeySignals"/>).
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
}
