using System.Text;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class PasskeyLoginTests(PortalAppFactory app) : IClassFixture<PortalAppFactory>
{
    private readonly PasskeyBench bench = new(app);

    private async Task<(string UserId, SoftwareAuthenticator Authenticator)> UserWithPasskeyAsync(bool synced = false, bool counts = true)
    {
        var userId = await bench.CreateUserAsync();
        var authenticator = bench.NewAuthenticator();
        authenticator.Synced = synced;
        authenticator.CountsSignatures = counts;
        await bench.RegisterAsync(userId, authenticator);
        return (userId, authenticator);
    }

    /// <summary>Runs a refused login and checks that it left passkeys and session untouched but counted the attempt.</summary>
    private async Task AssertRefusedAsync(string sessionId, Func<Task<PasskeyLoginResult>> attempt, string message)
    {
        var passkeys = await bench.AllPasskeysSnapshotAsync();
        var session = await bench.SessionSnapshotAsync(sessionId);
        var attempts = (await bench.SessionAsync(sessionId)).FailedAttempts;

        var result = await attempt();

        Assert.False(result.Succeeded);
        Assert.Equal(message, result.Error);
        Assert.Equal(passkeys, await bench.AllPasskeysSnapshotAsync());
        Assert.Equal(session, await bench.SessionSnapshotAsync(sessionId));
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.SessionAsync(sessionId)).State);
        Assert.Equal(attempts + 1, (await bench.SessionAsync(sessionId)).FailedAttempts);
    }

    [Fact]
    public async Task A_valid_assertion_verifies_the_login_and_records_the_use()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        Assert.Equal(PasskeySecondFactor.FactorName, (await bench.SessionAsync(sessionId)).SecondFactor);

        var result = await bench.LogInAsync(sessionId, authenticator);

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(LoginSessionState.Verified, (await bench.SessionAsync(sessionId)).State);
        var passkey = Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Equal(1, passkey.SignCount);
        Assert.Equal(app.Time.GetUtcNow(), passkey.LastUsedAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.False(passkey.PossiblyCloned);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Login_options_allow_only_the_users_credentials_with_the_configured_settings()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);

        var start = await bench.BeginLoginAsync(sessionId);

        using var options = System.Text.Json.JsonDocument.Parse(start.OptionsJson!);
        var allowed = options.RootElement.GetProperty("allowCredentials").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
        Assert.Equal([System.Buffers.Text.Base64Url.EncodeToString(authenticator.Credentials[0].Id)], allowed);
        Assert.Equal("localhost", options.RootElement.GetProperty("rpId").GetString());
        Assert.Equal("preferred", options.RootElement.GetProperty("userVerification").GetString());
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_replayed_assertion_is_refused()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var firstSession = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(firstSession);
        var answer = authenticator.GetAssertion(start.OptionsJson!);
        Assert.True((await bench.CompleteLoginAsync(firstSession, start.CeremonyId, answer)).Succeeded);

        // The same answer again, for a new login session of the same account.
        var secondSession = await bench.StartLoginAsync(userId);
        await AssertRefusedAsync(secondSession, () => bench.CompleteLoginAsync(secondSession, start.CeremonyId, answer), PasskeyMessages.RequestExpired);
        var fresh = await bench.BeginLoginAsync(secondSession);
        await AssertRefusedAsync(secondSession, () => bench.CompleteLoginAsync(secondSession, fresh.CeremonyId, answer), PasskeyMessages.NotVerified);
        authenticator.Dispose();
    }

    /// <summary>A login awaiting its passkey, with the passkey's answer made, on a portal of its own (the test moves its clock).</summary>
    private static async Task<AnsweredLogin> AnsweredLoginOnItsOwnPortalAsync()
    {
        var portal = new PortalAppFactory();
        var local = new PasskeyBench(portal);
        var userId = await local.CreateUserAsync();
        using var authenticator = local.NewAuthenticator();
        await local.RegisterAsync(userId, authenticator);
        var sessionId = await local.StartLoginAsync(userId);
        var start = await local.BeginLoginAsync(sessionId);
        return new AnsweredLogin(portal, local, userId, sessionId, start, authenticator.GetAssertion(start.OptionsJson!));
    }

    private sealed record AnsweredLogin(PortalAppFactory Portal, PasskeyBench Bench, string UserId, string SessionId, CeremonyStart Start, string Answer) : IDisposable
    {
        public void Dispose() => Portal.Dispose();
    }

    [Fact]
    public async Task An_expired_login_challenge_is_refused()
    {
        using var login = await AnsweredLoginOnItsOwnPortalAsync();
        var (isolated, local, userId, sessionId, start, answer) = login;
        isolated.Time.Advance(TimeSpan.FromMinutes(3));

        var result = await local.CompleteLoginAsync(sessionId, start.CeremonyId, answer);

        Assert.Equal(PasskeyMessages.RequestExpired, result.Error);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await local.SessionAsync(sessionId)).State);
        Assert.Equal(0, Assert.Single(await local.PasskeysAsync(userId)).SignCount);
    }

    [Fact]
    public async Task A_challenge_that_expires_between_its_check_and_its_record_is_not_used()
    {
        using var login = await AnsweredLoginOnItsOwnPortalAsync();
        var (isolated, local, userId, sessionId, start, answer) = login;

        var failure = await local.WithAsync(async s =>
        {
            var assertions = s.GetRequiredService<PasskeyAssertions>();
            var check = await assertions.CheckAsync(userId, CeremonyPurpose.Login, sessionId, start.CeremonyId, answer);
            Assert.Null(check.Failure);
            // The last millisecond passes while the answer waits for the write lock.
            isolated.Time.Advance(check.Challenge!.ExpiresAt - isolated.Time.GetUtcNow());
            await using var transaction = await s.GetRequiredService<AccountsPortal.Data.PortalDbContext>().Database.BeginTransactionAsync();
            var recorded = await assertions.RecordAsync(check, transaction, _ => Task.FromResult(true));
            await transaction.CommitAsync();
            return recorded;
        });

        Assert.Equal(PasskeyMessages.RequestExpired, failure);
        Assert.Equal(0, Assert.Single(await local.PasskeysAsync(userId)).SignCount);
        Assert.Equal(0, await isolated.WithDbAsync(db => db.PasskeyCeremonies.CountAsync(c => c.LoginSessionId == sessionId)));
    }

    [Fact]
    public async Task A_challenge_from_another_login_session_is_refused()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionA = await bench.StartLoginAsync(userId);
        var sessionB = await bench.StartLoginAsync(userId);
        var startA = await bench.BeginLoginAsync(sessionA);
        var answer = authenticator.GetAssertion(startA.OptionsJson!);

        await AssertRefusedAsync(sessionB, () => bench.CompleteLoginAsync(sessionB, startA.CeremonyId, answer), PasskeyMessages.RequestExpired);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_registration_challenge_cannot_be_used_for_login()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var registration = await bench.BeginRegistrationAsync(userId);
        var login = await bench.BeginLoginAsync(sessionId);
        var answer = authenticator.GetAssertion(login.OptionsJson!, new AssertionOverrides { Challenge = ChallengeOf(registration.OptionsJson!) });

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, registration.CeremonyId, answer), PasskeyMessages.RequestExpired);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_passkey_added_after_the_options_were_issued_cannot_answer_them()
    {
        var (userId, offered) = await UserWithPasskeyAsync();
        using var _ = offered;
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);
        using var later = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, later, "Added later");
        // The authenticator is handed the options without their list, so it answers with the passkey they did not offer.
        var unlisted = System.Text.Json.Nodes.JsonNode.Parse(start.OptionsJson!)!;
        unlisted["allowCredentials"] = new System.Text.Json.Nodes.JsonArray();
        var answer = later.GetAssertion(unlisted.ToJsonString());

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, answer), PasskeyMessages.NotVerified);
        // The refused answer used the challenge up: the passkey it offered cannot answer it now either.
        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, offered.GetAssertion(start.OptionsJson!)), PasskeyMessages.RequestExpired);
    }

    [Fact]
    public async Task Another_users_credential_without_a_user_handle_is_refused()
    {
        var (victimId, _) = await UserWithPasskeyAsync();
        var (_, attackerAuthenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(victimId);
        var start = await bench.BeginLoginAsync(sessionId);
        var answer = attackerAuthenticator.GetAssertion(start.OptionsJson!, new AssertionOverrides
        {
            Credential = attackerAuthenticator.Credentials[0],
            OmitUserHandle = true,
        });

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, answer), PasskeyMessages.NotThisAccount);
        attackerAuthenticator.Dispose();
    }

    [Fact]
    public async Task A_user_handle_of_another_account_is_refused()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var (otherId, _) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);
        var answer = authenticator.GetAssertion(start.OptionsJson!, new AssertionOverrides { UserHandle = Encoding.UTF8.GetBytes(otherId) });

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, answer), PasskeyMessages.NotThisAccount);
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_assertion_without_a_user_handle_from_the_users_own_credential_is_accepted()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);

        var result = await bench.LogInAsync(sessionId, authenticator, new AssertionOverrides { OmitUserHandle = true });

        Assert.True(result.Succeeded, result.Error);
        authenticator.Dispose();
    }

    public static TheoryData<string, AssertionOverrides, string> TamperedAssertions => new()
    {
        { "tampered signature", new AssertionOverrides { TamperSignature = true }, PasskeyMessages.NotVerified },
        { "tampered authenticatorData", new AssertionOverrides { TamperAuthenticatorData = true }, PasskeyMessages.NotVerified },
        { "unparsable clientDataJSON", new AssertionOverrides { TamperClientData = true }, PasskeyMessages.NotVerified },
        // Well-formed, right in every member, but not what was signed: only the signature check can tell.
        { "clientDataJSON signed with one challenge byte changed", new AssertionOverrides { SignedClientData = ClientDataAlteration.OneChallengeByte }, PasskeyMessages.NotVerified },
        { "clientDataJSON signed as a registration", new AssertionOverrides { SignedClientData = ClientDataAlteration.OtherType }, PasskeyMessages.NotVerified },
        { "clientDataJSON signed for another origin", new AssertionOverrides { SignedClientData = ClientDataAlteration.OtherOrigin }, PasskeyMessages.NotVerified },
        { "wrong origin", new AssertionOverrides { Origin = "https://evil.example" }, PasskeyMessages.WrongOrigin },
        { "origin with another port", new AssertionOverrides { Origin = "http://localhost:8080" }, PasskeyMessages.WrongOrigin },
        { "wrong rpIdHash", new AssertionOverrides { RpId = "evil.example" }, PasskeyMessages.WrongOrigin },
        { "user presence missing", new AssertionOverrides { UserPresent = false }, PasskeyMessages.NotVerified },
        { "registration type", new AssertionOverrides { Type = "webauthn.create" }, PasskeyMessages.NotVerified },
        { "other challenge", new AssertionOverrides { Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, PasskeyMessages.NotVerified },
        { "backup eligibility changed", new AssertionOverrides { BackupEligible = true }, PasskeyMessages.NotVerified },
    };

    [Theory]
    [MemberData(nameof(TamperedAssertions))]
    public async Task Assertions_that_fail_a_check_change_nothing(string because, AssertionOverrides overrides, string message)
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);
        var answer = authenticator.GetAssertion(start.OptionsJson!, overrides);

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, answer), message);
        Assert.False(string.IsNullOrEmpty(because));
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_counter_that_goes_backwards_is_refused_and_marks_the_passkey_possibly_cloned()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator)).Succeeded);
        }

        var sessionId = await bench.StartLoginAsync(userId);
        var result = await bench.LogInAsync(sessionId, authenticator, new AssertionOverrides { SignCount = 2 });

        Assert.Equal(PasskeyMessages.PossiblyCloned, result.Error);
        var passkey = Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Equal(3, passkey.SignCount);
        Assert.True(passkey.PossiblyCloned);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.SessionAsync(sessionId)).State);
        Assert.True(Assert.Single(await bench.WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<PasskeyManagement>(s).ListAsync(userId))).PossiblyCloned);
        authenticator.Dispose();
    }

    [Fact]
    public async Task A_counter_that_stays_the_same_is_refused()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        Assert.True((await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator)).Succeeded);

        var result = await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator, new AssertionOverrides { SignCount = 1 });

        Assert.Equal(PasskeyMessages.PossiblyCloned, result.Error);
        Assert.Equal(1, Assert.Single(await bench.PasskeysAsync(userId)).SignCount);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Passkeys_that_never_count_keep_working_and_synced_state_is_recorded()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync(synced: true, counts: false);

        for (var i = 0; i < 2; i++)
        {
            var result = await bench.LogInAsync(await bench.StartLoginAsync(userId), authenticator);
            Assert.True(result.Succeeded, result.Error);
        }

        var passkey = Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Equal(0, passkey.SignCount);
        Assert.True(passkey.IsBackedUp);
        Assert.False(passkey.PossiblyCloned);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Failed_attempts_close_the_login_session_at_the_limit()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);

        PasskeyLoginResult? last = null;
        for (var i = 0; i < 5; i++)
        {
            last = await bench.LogInAsync(sessionId, authenticator, new AssertionOverrides { TamperSignature = true });
        }

        Assert.Equal(PasskeyMessages.TooManyAttempts, last!.Error);
        Assert.True(last.SessionClosed);
        Assert.Equal(LoginSessionState.Failed, (await bench.SessionAsync(sessionId)).State);
        Assert.Equal(PasskeyMessages.LoginSessionExpired, (await bench.BeginLoginAsync(sessionId)).Error);
        authenticator.Dispose();
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{}")]
    [InlineData("{\"id\":\"AAAA\",\"rawId\":\"%%%%\",\"type\":\"public-key\",\"response\":{}}")]
    [InlineData("{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\",\"response\":{\"clientDataJSON\":\"e30\",\"authenticatorData\":\"AAAA\",\"signature\":\"AAAA\"}}")]
    public async Task Malformed_answers_are_refused_with_a_clear_message(string credentialJson)
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, credentialJson), PasskeyMessages.Unreadable);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Malformed_authenticator_data_behind_a_known_credential_is_refused()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);
        var answer = System.Text.Json.Nodes.JsonNode.Parse(authenticator.GetAssertion(start.OptionsJson!))!;
        answer["response"]!["authenticatorData"] = System.Buffers.Text.Base64Url.EncodeToString(new byte[40]);
        answer["response"]!["clientDataJSON"] = System.Buffers.Text.Base64Url.EncodeToString("not json"u8);

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, answer.ToJsonString()), PasskeyMessages.NotVerified);
        authenticator.Dispose();
    }

    [Fact]
    public async Task An_oversized_answer_is_refused_unread()
    {
        var (userId, authenticator) = await UserWithPasskeyAsync();
        var sessionId = await bench.StartLoginAsync(userId);
        var start = await bench.BeginLoginAsync(sessionId);

        await AssertRefusedAsync(sessionId, () => bench.CompleteLoginAsync(sessionId, start.CeremonyId, new string('x', 17 * 1024)), PasskeyMessages.Unreadable);
        authenticator.Dispose();
    }

    [Fact]
    public async Task Sessions_without_a_pending_passkey_step_give_no_options()
    {
        var userId = await bench.CreateUserAsync();
        var noFactor = await bench.StartLoginAsync(userId);

        Assert.Equal(PasskeyMessages.LoginSessionExpired, (await bench.BeginLoginAsync(noFactor)).Error);
        Assert.Equal(PasskeyMessages.LoginSessionExpired, (await bench.BeginLoginAsync("unknown-session")).Error);
        Assert.Equal(PasskeyMessages.LoginSessionExpired, (await bench.CompleteLoginAsync("unknown-session", "x", "{}")).Error);
    }

    private static string ChallengeOf(string optionsJson) =>
        System.Text.Json.Nodes.JsonNode.Parse(optionsJson)!["challenge"]!.GetValue<string>();
}
