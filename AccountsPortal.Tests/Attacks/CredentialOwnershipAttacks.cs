using System.Net;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Someone who knows the victim's password answers the victim's challenge with a passkey that is not the victim's:
/// their own (with any user handle, or none), one the victim deleted, or their own key behind the victim's credential id.
/// </summary>
public sealed class CredentialOwnershipAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private async Task AssertRefusedAsync(ApiLogin login, string answer, string message)
    {
        var before = await portal.SnapshotAsync();

        var response = await login.AnswerAsync(answer);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "PASSKEY_NOT_VERIFIED", message);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(login.SessionId), Expected.ChallengeUsed(boundTo: login.SessionId));
    }

    [Theory]
    [InlineData("no userHandle")]
    [InlineData("an empty userHandle")]
    [InlineData("the victim's userHandle")]
    public async Task Another_accounts_passkey_is_refused_whatever_user_handle_it_claims(string claim)
    {
        using var victim = await portal.ApiPasskeyLoginAsync();
        var (_, _, attackersPasskey) = await portal.AccountWithPasskeyAsync();
        using (attackersPasskey)
        {
            var overrides = claim switch
            {
                "no userHandle" => new AssertionOverrides { Credential = attackersPasskey.Credentials[0], OmitUserHandle = true },
                "an empty userHandle" => new AssertionOverrides { Credential = attackersPasskey.Credentials[0], ResponseMembers = new Dictionary<string, JsonNode?> { ["userHandle"] = "" } },
                _ => new AssertionOverrides { Credential = attackersPasskey.Credentials[0], UserHandle = PasskeyRelyingParty.UserHandleOf(victim.UserId) },
            };
            var answer = attackersPasskey.GetAssertion(await victim.OptionsAsync(), overrides);

            await AssertRefusedAsync(victim, answer, PasskeyMessages.NotThisAccount);
        }
    }

    [Fact]
    public async Task The_victims_credential_id_signed_by_another_key_is_refused()
    {
        using var victim = await portal.ApiPasskeyLoginAsync();
        var options = await victim.OptionsAsync();
        // The attacker's own key, presented under the victim's credential id and user handle.
        var forged = new StoredCredential(victim.Own.Credentials[0].Id, System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256), victim.Own.Credentials[0].UserHandle, false);
        using var key = forged.Key;
        var answer = WebAuthnForge.Assertion(
            forged, WebAuthnForge.AuthenticatorData(WebAuthnForge.UserPresent | WebAuthnForge.UserVerified, 9), WebAuthnForge.ClientData(WebAuthnForge.ChallengeOf(options), portal.App.Origin), forged.UserHandle);

        await AssertRefusedAsync(victim, answer, PasskeyMessages.NotVerified);
    }

    [Fact]
    public async Task A_passkey_the_account_deleted_no_longer_verifies()
    {
        var (userId, email, kept) = await portal.AccountWithPasskeyAsync();
        using var lost = portal.Passkeys.NewAuthenticator();
        var lostId = await portal.Passkeys.RegisterAsync(userId, lost, "Lost phone");
        var browser = await portal.Passkeys.SignedInBrowserAsync(userId);
        Assert.True((await portal.Passkeys.WithAsync(s => s.GetRequiredService<PasskeyManagement>().DeleteAsync(userId, lostId, browser))).Succeeded);
        using var login = await portal.ApiLoginAsync(userId, email, kept);

        var answer = lost.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { Credential = lost.Credentials[0] });

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotThisAccount);
    }

    [Fact]
    public async Task Another_accounts_passkey_cannot_confirm_its_you()
    {
        var (victimId, _, victimsPasskey) = await portal.AccountWithPasskeyAsync();
        var (_, _, attackersPasskey) = await portal.AccountWithPasskeyAsync();
        using (victimsPasskey)
        using (attackersPasskey)
        {
            // A browser of the victim's that the attacker sits at, past its sign-in's confirmation window.
            var browser = await portal.Passkeys.SignedInBrowserAsync(victimId);
            portal.App.Time.Advance(TimeSpan.FromMinutes(6));
            var confirmations = (IServiceProvider s) => s.GetRequiredService<Confirmations>();
            var start = await portal.Passkeys.WithAsync(s => confirmations(s).BeginPasskeyAsync(victimId, browser));
            var answer = attackersPasskey.GetAssertion(start.OptionsJson!, new AssertionOverrides { Credential = attackersPasskey.Credentials[0], OmitUserHandle = true });
            var before = await portal.SnapshotAsync();

            var result = await portal.Passkeys.WithAsync(s => confirmations(s).WithPasskeyAsync(victimId, browser, start.CeremonyId, answer, IPAddress.Loopback));

            Assert.Equal(PasskeyMessages.NotThisAccount, result.Error);
            await DatabaseState.AssertChangedOnlyAsync(
                portal.App, before, Expected.ChallengeUsed(start.CeremonyId), Expected.Event(victimId, SecurityEventKind.IdentityConfirmationFailed));
            Assert.False(await portal.Passkeys.WithAsync(s => confirmations(s).IsFreshAsync(victimId, browser)));
        }
    }
}
