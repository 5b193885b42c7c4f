using System.Buffers.Text;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Confirmation;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Challenges used where they do not belong: again, too late, for another login, for another purpose, for another
/// account, twice at once. Every answer is a genuine signature by the account's passkey; only the challenge is wrong.
/// </summary>
public sealed class ChallengeAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private static async Task AssertRequestExpiredAsync(HttpResponseMessage response) =>
        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "PASSKEY_NOT_VERIFIED", PasskeyMessages.RequestExpired);

    [Fact]
    public async Task A_verified_answer_replayed_to_a_new_login_of_the_account_is_refused()
    {
        using var first = await portal.ApiPasskeyLoginAsync();
        var answer = first.Own.GetAssertion(await first.OptionsAsync());
        Assert.Equal(HttpStatusCode.OK, (await first.AnswerAsync(answer)).StatusCode);
        using var second = await portal.ApiLoginAsync(first.UserId, first.Email);
        await second.OptionsAsync();
        var before = await portal.SnapshotAsync();

        var replayed = await second.AnswerAsync(answer);

        await AssertRequestExpiredAsync(replayed);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(second.SessionId));
    }

    [Fact]
    public async Task An_answer_one_second_after_the_challenge_expired_is_refused_over_the_api()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var answer = login.Own.GetAssertion(await login.OptionsAsync());
        portal.App.Time.Advance(TimeSpan.FromMinutes(3) + TimeSpan.FromSeconds(1));
        var before = await portal.SnapshotAsync();

        var late = await login.AnswerAsync(answer);

        await AssertRequestExpiredAsync(late);
        // The expired challenge is not even marked used: nothing can use it any more.
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(login.SessionId));
    }

    [Fact]
    public async Task An_answer_to_another_login_sessions_challenge_is_refused_over_the_api()
    {
        using var mine = await portal.ApiPasskeyLoginAsync();
        using var other = await portal.ApiLoginAsync(mine.UserId, mine.Email);
        var answerForOther = mine.Own.GetAssertion(await other.OptionsAsync());
        await mine.OptionsAsync();
        var before = await portal.SnapshotAsync();

        var crossed = await mine.AnswerAsync(answerForOther);

        await AssertRequestExpiredAsync(crossed);
        // The other login's challenge stays unused: it can still be answered there.
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(mine.SessionId));
        Assert.Equal(HttpStatusCode.OK, (await other.AnswerAsync(answerForOther)).StatusCode);
    }

    [Fact]
    public async Task A_confirm_its_you_challenge_answered_at_the_login_api_is_refused()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var browser = await portal.Passkeys.SignedInBrowserAsync(login.UserId);
        var confirmation = await portal.Passkeys.WithAsync(s => s.GetRequiredService<Confirmations>().BeginPasskeyAsync(login.UserId, browser));
        Assert.True(confirmation.Succeeded, confirmation.Error);
        var answer = login.Own.GetAssertion(confirmation.OptionsJson!);
        await login.OptionsAsync();
        var before = await portal.SnapshotAsync();

        var crossed = await login.AnswerAsync(answer);

        await AssertRequestExpiredAsync(crossed);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(login.SessionId));
    }

    [Fact]
    public async Task A_registration_challenge_signed_as_an_assertion_is_refused_at_the_login_api()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var registration = await portal.Passkeys.BeginRegistrationAsync(login.UserId);
        var options = await login.OptionsAsync();
        var answer = login.Own.GetAssertion(options, new AssertionOverrides { Challenge = WebAuthnForge.ChallengeOf(registration.OptionsJson!) });
        var before = await portal.SnapshotAsync();

        var crossed = await login.AnswerAsync(answer);

        await AssertRequestExpiredAsync(crossed);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(login.SessionId));
    }

    [Fact]
    public async Task A_login_ceremony_cannot_register_a_passkey()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var browser = await portal.Passkeys.SignedInBrowserAsync(login.UserId);
        var loginCeremony = await portal.Passkeys.BeginLoginAsync(await portal.Passkeys.StartLoginAsync(login.UserId));
        // A well-formed registration answer for the login's challenge.
        var answer = WebAuthnForge.Registration(loginCeremony.OptionsJson!, portal.App.Origin);
        var before = await portal.SnapshotAsync();

        var outcome = await portal.CompleteRegistrationAsync(login.UserId, loginCeremony.CeremonyId!, "Key", answer, browser);

        Assert.Equal(PasskeyMessages.RequestExpired, outcome.Error);
        // Not consumed either: the purpose is part of the statement that would use it up.
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Fact]
    public async Task A_login_ceremony_cannot_confirm_its_you()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var browser = await portal.Passkeys.SignedInBrowserAsync(login.UserId);
        var sessionId = await portal.Passkeys.StartLoginAsync(login.UserId);
        var loginCeremony = await portal.Passkeys.BeginLoginAsync(sessionId);
        var answer = login.Own.GetAssertion(loginCeremony.OptionsJson!);
        var before = await portal.SnapshotAsync();

        var result = await portal.Passkeys.WithAsync(s => s.GetRequiredService<Confirmations>()
            .WithPasskeyAsync(login.UserId, browser, loginCeremony.CeremonyId, answer, IPAddress.Loopback));

        Assert.Equal(PasskeyMessages.RequestExpired, result.Error);
        // The failed confirmation is in the owner's activity; the browser is not confirmed and the login's challenge is unused.
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.Event(login.UserId, SecurityEventKind.IdentityConfirmationFailed));
        Assert.True((await portal.Passkeys.CompleteLoginAsync(sessionId, loginCeremony.CeremonyId, answer)).Succeeded);
    }

    [Fact]
    public async Task An_attackers_own_challenge_answered_into_the_victims_login_is_refused()
    {
        // The attacker knows the victim's password (so holds a login of the victim) and has an account and passkey of their own.
        using var victim = await portal.ApiPasskeyLoginAsync();
        using var attacker = await portal.ApiPasskeyLoginAsync();
        var attackersAnswer = attacker.Own.GetAssertion(await attacker.OptionsAsync());
        await victim.OptionsAsync();
        var before = await portal.SnapshotAsync();

        var crossed = await victim.AnswerAsync(attackersAnswer);

        await AssertRequestExpiredAsync(crossed);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(victim.SessionId));
    }

    [Fact]
    public async Task One_answer_sent_twice_at_once_verifies_once_and_issues_one_token()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var answer = login.Own.GetAssertion(await login.OptionsAsync());
        var before = await portal.SnapshotAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => login.AnswerAsync(answer))));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        var refused = Assert.Single(responses, r => r.StatusCode != HttpStatusCode.OK);
        Assert.True((int)refused.StatusCode is 400 or 410, $"{(int)refused.StatusCode}");
        var changes = (await portal.SnapshotAsync()).ChangesSince(before);
        Assert.Single(changes, c => c is { Table: "AppTokens", IsAdded: true });
        var passkey = Assert.Single(changes, c => c.Table == "Passkeys");
        Assert.Equal("1", passkey["SignCount"]);
        Assert.Single(changes, c => c.Table == "PasskeyCeremonies");
        Assert.DoesNotContain(changes, c => c.IsRemoved);
    }

    [Fact]
    public async Task An_answer_whose_client_data_claims_a_challenge_never_issued_is_refused() =>
        await AssertSignedChallengeRefusedAsync((_, _) => RandomNumberGenerator.GetBytes(32));

    [Fact]
    public async Task Asking_for_options_writes_nothing_however_often_and_by_whomever()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var before = await portal.SnapshotAsync();

        for (var i = 0; i < 3; i++)
        {
            await login.OptionsAsync();
            var anonymous = await login.Client.Http.PostAsJsonAsync("/api/v1/passkey-login/options", new { clientId = AppApiClient.ClientId });
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        }

        // The challenges carry what their answers are checked against: nothing is stored until one is answered.
        await DatabaseState.AssertUnchangedAsync(portal.App, before);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(40)]
    [InlineData(-1)]
    public async Task A_challenge_altered_in_one_bit_is_refused_and_uses_nothing_up(int byteIndex) =>
        await AssertSignedChallengeRefusedAsync((issued, _) =>
        {
            issued[byteIndex < 0 ? issued.Length + byteIndex : byteIndex] ^= 0x01;
            return issued;
        });

    [Fact]
    public async Task A_challenge_another_portal_issued_for_the_same_login_is_refused()
    {
        using var elsewhere = new PortalAppFactory();
        // The same purpose, account and login session, sealed under another key ring.
        await AssertSignedChallengeRefusedAsync((_, login) => elsewhere.Services.GetRequiredService<PasskeyChallenges>()
            .Issue(CeremonyPurpose.Login, login.UserId, login.SessionId, [], TimeSpan.FromMinutes(3)));
    }

    /// <summary>
    /// The account's own passkey signs options whose challenge <paramref name="replace"/> made from the one issued: the
    /// answer is refused as an expired request, and only the login's failed attempt is recorded (no challenge is used up).
    /// </summary>
    private async Task AssertSignedChallengeRefusedAsync(Func<byte[], ApiLogin, byte[]> replace)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var made = JsonNode.Parse(await login.OptionsAsync())!;
        made["challenge"] = Base64Url.EncodeToString(replace(Base64Url.DecodeFromChars(made["challenge"]!.GetValue<string>()), login));
        var answer = login.Own.GetAssertion(made.ToJsonString());
        var before = await portal.SnapshotAsync();

        var refused = await login.AnswerAsync(answer);

        await AssertRequestExpiredAsync(refused);
        await DatabaseState.AssertChangedOnlyAsync(portal.App, before, Expected.FailedAttemptCounted(login.SessionId));
    }
}
