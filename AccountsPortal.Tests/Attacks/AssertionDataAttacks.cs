using System.Net;
using System.Text.Json.Nodes;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// What an assertion claims about itself, each claim signed by the account's own passkey: where it comes from
/// (client data origin, rpIdHash), what the authenticator saw (UP, UV, BE, BS) and its signature counter. Sent to
/// the app API's passkey step; every refusal is a 400 that counts one failed attempt and uses up the challenge.
/// </summary>
public sealed class AssertionDataAttacks(AttackPortal portal) : IClassFixture<AttackPortal>
{
    private const byte Present = WebAuthnForge.UserPresent;
    private const byte Verified = WebAuthnForge.UserVerified;

    /// <summary>Sends the answer and checks the refusal and that nothing but the attempt and the challenge changed.</summary>
    private async Task AssertRefusedAsync(ApiLogin login, string answer, string message, params Expected[] alsoExpected)
    {
        var before = await portal.SnapshotAsync();

        var response = await login.AnswerAsync(answer);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "PASSKEY_NOT_VERIFIED", message);
        await DatabaseState.AssertChangedOnlyAsync(
            portal.App, before, [Expected.FailedAttemptCounted(login.SessionId), Expected.ChallengeUsed(boundTo: login.SessionId), .. alsoExpected]);
    }

    private Task<string> PasskeyIdAsync(string userId) =>
        portal.App.WithDbAsync(async db => (await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.SingleAsync(db.Passkeys, p => p.UserId == userId)).Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static TheoryData<string> ForeignOrigins => new()
    {
        "null",
        "http://localhost",
        "http://127.0.0.1:{port}",
        "http://l\u043Ecalhost:{port}",
        "ws://localhost:{port}",
        "android:apk-key-hash:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
    };

    [Theory]
    [MemberData(nameof(ForeignOrigins))]
    public async Task An_origin_that_only_resembles_the_portal_is_refused(string origin)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var answer = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { Origin = origin.Replace("{port}", portal.App.ServerAddress!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal) });

        await AssertRefusedAsync(login, answer, PasskeyMessages.WrongOrigin);
    }

    [Theory]
    [InlineData("origin left out")]
    [InlineData("origin null")]
    [InlineData("origin a number")]
    public async Task Client_data_without_an_origin_string_is_refused(string variant)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var challenge = WebAuthnForge.ChallengeOf(await login.OptionsAsync());
        var clientData = new JsonObject { ["type"] = "webauthn.get", ["challenge"] = challenge, ["crossOrigin"] = false };
        if (variant != "origin left out")
        {
            clientData["origin"] = variant == "origin null" ? null : 42;
        }

        var credential = login.Own.Credentials[0];
        var answer = WebAuthnForge.Assertion(
            credential, WebAuthnForge.AuthenticatorData(Present | Verified, 1), System.Text.Encoding.UTF8.GetBytes(clientData.ToJsonString()), credential.UserHandle);

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotVerified);
    }

    [Theory]
    [InlineData("LOCALHOST")]
    [InlineData("localhost.")]
    [InlineData("login.localhost")]
    [InlineData("")]
    [InlineData("(32 zero bytes)")]
    public async Task An_rp_id_hash_of_another_relying_party_is_refused(string rpId)
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        var options = await login.OptionsAsync();
        var credential = login.Own.Credentials[0];
        var authenticatorData = WebAuthnForge.AuthenticatorData(Present | Verified, 1, rpId == "(32 zero bytes)" ? "localhost" : rpId);
        if (rpId == "(32 zero bytes)")
        {
            Array.Clear(authenticatorData, 0, 32);
        }

        var answer = WebAuthnForge.Assertion(credential, authenticatorData, WebAuthnForge.ClientData(WebAuthnForge.ChallengeOf(options), portal.App.Origin), credential.UserHandle);

        await AssertRefusedAsync(login, answer, PasskeyMessages.WrongOrigin);
    }

    /// <summary>Flags an authenticator signed, and whether the passkey was registered as synced (backup eligible).</summary>
    public static TheoryData<string, bool, byte> ContradictoryFlags => new()
    {
        { "neither user present nor verified", false, 0 },
        { "verified but not present, on a synced passkey", true, Verified | WebAuthnForge.BackupEligible | WebAuthnForge.BackedUp },
        { "a device-bound passkey claims to be synced", false, Present | Verified | WebAuthnForge.BackupEligible | WebAuthnForge.BackedUp },
        { "a synced passkey claims it cannot be backed up", true, Present | Verified },
        { "a synced passkey backed up but not backup eligible", true, Present | Verified | WebAuthnForge.BackedUp },
    };

    [Theory]
    [MemberData(nameof(ContradictoryFlags))]
    public async Task Flags_that_contradict_presence_or_the_passkeys_backup_state_are_refused(string variant, bool synced, byte flags)
    {
        using var login = await portal.ApiPasskeyLoginAsync(synced);
        var options = await login.OptionsAsync();
        var credential = login.Own.Credentials[0];
        var answer = WebAuthnForge.Assertion(
            credential, WebAuthnForge.AuthenticatorData(flags, 1), WebAuthnForge.ClientData(WebAuthnForge.ChallengeOf(options), portal.App.Origin), credential.UserHandle);

        await AssertRefusedAsync(login, answer, PasskeyMessages.NotVerified);
        Assert.False(string.IsNullOrEmpty(variant));
    }

    [Fact]
    public async Task Where_user_verification_is_required_a_present_but_unverified_user_is_refused()
    {
        using var strict = AttackPortal.With(app => app.WithSetting("Passkeys:UserVerification", "required"));
        using var login = await strict.ApiPasskeyLoginAsync();
        var options = await login.OptionsAsync();
        Assert.Equal("required", JsonNode.Parse(options)!["userVerification"]!.GetValue<string>());
        var answer = login.Own.GetAssertion(options, new AssertionOverrides { UserVerified = false });
        var before = await strict.SnapshotAsync();

        var response = await login.AnswerAsync(answer);

        await AttackPortal.AssertProblemAsync(response, HttpStatusCode.BadRequest, "PASSKEY_NOT_VERIFIED", PasskeyMessages.NotVerified);
        await DatabaseState.AssertChangedOnlyAsync(strict.App, before, Expected.FailedAttemptCounted(login.SessionId), Expected.ChallengeUsed(boundTo: login.SessionId));
    }

    [Fact]
    public async Task Two_assertions_submitted_out_of_order_refuse_the_older_and_flag_the_passkey()
    {
        var (userId, email, authenticator) = await portal.AccountWithPasskeyAsync();
        using var first = await portal.ApiLoginAsync(userId, email, authenticator);
        using var second = await portal.ApiLoginAsync(userId, email);
        // Made in this order (counters 1 and 2), delivered the other way round.
        var older = first.Own.GetAssertion(await first.OptionsAsync());
        var newer = first.Own.GetAssertion(await second.OptionsAsync());
        Assert.Equal(HttpStatusCode.OK, (await second.AnswerAsync(newer)).StatusCode);

        await AssertRefusedAsync(
            first, older, PasskeyMessages.PossiblyCloned,
            Expected.MarkedPossiblyCloned(await PasskeyIdAsync(userId)), Expected.Event(userId, SecurityEventKind.PasskeyPossiblyCloned));
    }

    [Fact]
    public async Task A_counter_that_falls_back_to_zero_after_counting_is_refused()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        using var warmUp = await portal.ApiLoginAsync(login.UserId, login.Email);
        Assert.Equal(HttpStatusCode.OK, (await warmUp.AnswerAsync(login.Own.GetAssertion(await warmUp.OptionsAsync()))).StatusCode);
        var answer = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { SignCount = 0 });

        await AssertRefusedAsync(
            login, answer, PasskeyMessages.PossiblyCloned,
            Expected.MarkedPossiblyCloned(await PasskeyIdAsync(login.UserId)), Expected.Event(login.UserId, SecurityEventKind.PasskeyPossiblyCloned));
    }

    [Fact]
    public async Task After_the_counter_reached_its_largest_value_no_count_is_accepted()
    {
        using var login = await portal.ApiPasskeyLoginAsync();
        using var warmUp = await portal.ApiLoginAsync(login.UserId, login.Email);
        Assert.Equal(HttpStatusCode.OK, (await warmUp.AnswerAsync(login.Own.GetAssertion(await warmUp.OptionsAsync(), new AssertionOverrides { SignCount = uint.MaxValue }))).StatusCode);
        // What a counter that wraps around would send next.
        var answer = login.Own.GetAssertion(await login.OptionsAsync(), new AssertionOverrides { SignCount = 1 });

        await AssertRefusedAsync(
            login, answer, PasskeyMessages.PossiblyCloned,
            Expected.MarkedPossiblyCloned(await PasskeyIdAsync(login.UserId)), Expected.Event(login.UserId, SecurityEventKind.PasskeyPossiblyCloned));
        Assert.Equal(uint.MaxValue, (await portal.Passkeys.PasskeysAsync(login.UserId)).Single().SignCount);
    }
}
