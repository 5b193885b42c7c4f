using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Api;

public sealed class PasskeyRegistrationTests(PortalAppFactory fixture) : IClassFixture<PortalAppFactory>
{
    private readonly PortalAppFactory app = fixture;

    private readonly PasskeyBench bench = new(fixture);

    [Fact]
    public async Task A_registered_passkey_is_stored_and_turns_passkey_two_factor_on()
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        authenticator.Aaguid = Guid.Parse("fbfc3007-154e-4ecc-8c0b-6e020557d7bd");
        authenticator.Synced = true;
        Assert.Null(await bench.WithAsync(s => s.GetRequiredService<SecondFactorDirectory>().RequiredForAsync(userId)));

        await bench.RegisterAsync(userId, authenticator, "  Phone\u0301  ");

        var passkey = Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Equal("Phon\u00e9", passkey.Name);
        Assert.Equal(authenticator.Credentials[0].Id, passkey.CredentialId);
        Assert.Equal(0, passkey.SignCount);
        Assert.True(passkey.IsBackupEligible);
        Assert.True(passkey.IsBackedUp);
        Assert.Null(passkey.LastUsedAt);
        var summary = Assert.Single(await bench.WithAsync(s => s.GetRequiredService<PasskeyManagement>().ListAsync(userId)));
        Assert.Equal("Apple Passwords", summary.Provider?.Name);
        Assert.True(summary.IsSynced);
        var factor = await bench.WithAsync(s => s.GetRequiredService<SecondFactorDirectory>().RequiredForAsync(userId));
        Assert.Equal(PasskeySecondFactor.FactorName, factor?.Name);
    }

    [Fact]
    public async Task Registration_options_come_from_configuration_not_the_request()
    {
        var userId = await bench.CreateUserAsync();

        var start = await bench.BeginRegistrationAsync(userId);

        using var options = System.Text.Json.JsonDocument.Parse(start.OptionsJson!);
        var root = options.RootElement;
        Assert.Equal("localhost", root.GetProperty("rp").GetProperty("id").GetString());
        Assert.Equal([-7, -8, -257], root.GetProperty("pubKeyCredParams").EnumerateArray().Select(p => p.GetProperty("alg").GetInt32()));
        Assert.Equal("none", root.GetProperty("attestation").GetString());
        Assert.Equal("preferred", root.GetProperty("authenticatorSelection").GetProperty("userVerification").GetString());
        Assert.Equal("preferred", root.GetProperty("authenticatorSelection").GetProperty("residentKey").GetString());
        Assert.Equal(32, System.Buffers.Text.Base64Url.DecodeFromChars(root.GetProperty("challenge").GetString()).Length);
    }

    [Fact]
    public async Task The_same_authenticator_is_excluded_and_a_known_credential_id_is_refused_for_any_account()
    {
        var owner = await bench.CreateUserAsync();
        var other = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        await bench.RegisterAsync(owner, authenticator);
        var takenId = authenticator.Credentials[0].Id;
        var before = await bench.AllPasskeysSnapshotAsync();

        // The browser is told to exclude it: a real authenticator refuses to register twice.
        var again = await bench.BeginRegistrationAsync(owner);
        Assert.Throws<InvalidOperationException>(() => authenticator.CreateCredential(again.OptionsJson!));

        // An authenticator that ignores excludeCredentials, for this account or another, is refused by the server.
        foreach (var userId in new[] { owner, other })
        {
            using var rogue = bench.NewAuthenticator();
            var start = await bench.BeginRegistrationAsync(userId);
            var outcome = await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Copy",
                rogue.CreateCredential(start.OptionsJson!, new RegistrationOverrides { CredentialId = takenId }));
            Assert.Equal(PasskeyMessages.AlreadyRegistered, outcome.Error);
        }

        Assert.Equal(before, await bench.AllPasskeysSnapshotAsync());
    }

    [Fact]
    public async Task Excluded_credentials_list_every_existing_passkey()
    {
        var userId = await bench.CreateUserAsync();
        using var first = bench.NewAuthenticator();
        using var second = bench.NewAuthenticator();
        await bench.RegisterAsync(userId, first);
        await bench.RegisterAsync(userId, second);

        var start = await bench.BeginRegistrationAsync(userId);

        using var options = System.Text.Json.JsonDocument.Parse(start.OptionsJson!);
        var excluded = options.RootElement.GetProperty("excludeCredentials").EnumerateArray()
            .Select(c => c.GetProperty("id").GetString()!).ToHashSet();
        Assert.Equal(
            new[] { first, second }.Select(a => System.Buffers.Text.Base64Url.EncodeToString(a.Credentials[0].Id)).ToHashSet(),
            excluded);
    }

    [Fact]
    public async Task The_eleventh_passkey_is_refused_when_starting_and_when_finishing()
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        for (var i = 0; i < 9; i++)
        {
            using var key = bench.NewAuthenticator();
            await bench.RegisterAsync(userId, key, $"Key {i}");
        }

        // Start the 10th and an 11th while 9 exist; finish the 10th first.
        var tenth = await bench.BeginRegistrationAsync(userId);
        var eleventh = await bench.BeginRegistrationAsync(userId);
        Assert.True((await bench.CompleteRegistrationAsync(userId, tenth.CeremonyId!, "Key 10", authenticator.CreateCredential(tenth.OptionsJson!, new RegistrationOverrides { CredentialId = NewId() }))).Succeeded);
        var before = await bench.AllPasskeysSnapshotAsync();

        var late = await bench.CompleteRegistrationAsync(userId, eleventh.CeremonyId!, "Key 11",
            authenticator.CreateCredential(eleventh.OptionsJson!, new RegistrationOverrides { CredentialId = NewId() }));
        var refused = await bench.BeginRegistrationAsync(userId);

        Assert.Equal("You can have at most 10 passkeys.", late.Error);
        Assert.Equal("You can have at most 10 passkeys.", refused.Error);
        Assert.Equal(before, await bench.AllPasskeysSnapshotAsync());
        Assert.Equal(10, (await bench.PasskeysAsync(userId)).Count);
    }

    [Theory]
    [InlineData(Data.DatabaseProvider.Sqlite)]
    [InlineData(Data.DatabaseProvider.Postgres)]
    public async Task Many_tabs_adding_the_tenth_passkey_at_once_add_exactly_one(Data.DatabaseProvider provider)
    {
        // On PostgreSQL (READ COMMITTED, concurrent writers) only the account's row lock keeps the count honest.
        using var own = provider == Data.DatabaseProvider.Sqlite ? null : PortalAppFactory.On(provider);
        var app = own ?? this.app;
        var bench = own is null ? this.bench : new PasskeyBench(own);
        // Passkeys are added from the passkeys page's circuit, which calls the registration service: the race is run
        // there, with every tab's finish in a scope (and database connection) of its own, all released together.
        const int tabs = 16;
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        for (var i = 0; i < 9; i++)
        {
            using var key = bench.NewAuthenticator();
            await bench.RegisterAsync(userId, key, $"Key {i}");
        }

        // Tabs of one signed-in browser share its session (and its recent confirmation).
        var browser = await bench.SignedInBrowserAsync(userId);
        var starts = new List<CeremonyStart>();
        for (var i = 0; i < tabs; i++)
        {
            starts.Add(await bench.BeginRegistrationAsync(userId));
        }

        var answers = starts.Select(s => authenticator.CreateCredential(s.OptionsJson!, new RegistrationOverrides { CredentialId = NewId() })).ToArray();
        var stamp = await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync());
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finishes = Enumerable.Range(0, tabs).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await bench.WithAsync(s => s.GetRequiredService<PasskeyRegistration>().CompleteAsync(userId, starts[i].CeremonyId!, $"Tab {i}", answers[i], browser));
        })).ToArray();

        gate.SetResult();
        var outcomes = await Task.WhenAll(finishes);

        var added = Assert.Single(outcomes, o => o.Succeeded);
        Assert.All(outcomes.Where(o => o != added), o => Assert.Equal("You can have at most 10 passkeys.", o.Error));
        var passkeys = await bench.PasskeysAsync(userId);
        Assert.Equal(10, passkeys.Count);
        Assert.Equal(added.PasskeyId, passkeys.Single(p => p.Name.StartsWith("Tab ", StringComparison.Ordinal)).Id);
        // One addition, told once: one event, one rotation of the security stamp.
        Assert.Equal(10, await app.WithDbAsync(db => db.SecurityEvents.CountAsync(e => e.UserId == userId && e.Kind == Features.Activity.SecurityEventKind.PasskeyAdded)));
        Assert.NotEqual(stamp, await app.WithDbAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.SecurityStamp).SingleAsync()));
    }

    [Theory]
    [InlineData("", "Enter a name for the passkey.")]
    [InlineData("   ", "Enter a name for the passkey.")]
    [InlineData(null, "Enter a name for the passkey.")]
    [InlineData("Bell\u0007", "The name contains invisible control characters. Use letters, digits, spaces and punctuation.")]
    [InlineData("Work\u202Eyek", "The name contains invisible control characters. Use letters, digits, spaces and punctuation.")]
    [InlineData("Isolate\u2066x\u2069", "The name contains invisible control characters. Use letters, digits, spaces and punctuation.")]
    [InlineData("Two\nlines", "The name contains invisible control characters. Use letters, digits, spaces and punctuation.")]
    [InlineData("12345678901234567890123456789012345678901234567890123456789012345", "A passkey name can be at most 64 characters.")]
    public async Task Invalid_names_are_refused_before_the_ceremony_is_used(string? name, string message)
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var start = await bench.BeginRegistrationAsync(userId);
        var credential = authenticator.CreateCredential(start.OptionsJson!);

        var outcome = await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, name, credential);

        Assert.Equal(message, outcome.Error);
        Assert.Empty(await bench.PasskeysAsync(userId));
        // The ceremony is still unused: the same answer with a good name goes through.
        Assert.True((await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Good name", credential)).Succeeded);
    }

    [Fact]
    public async Task A_name_of_64_characters_and_emoji_is_accepted()
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var name = new string('a', 62) + "👩‍💻🔑";

        await bench.RegisterAsync(userId, authenticator, name);

        Assert.Equal(name, Assert.Single(await bench.PasskeysAsync(userId)).Name);
    }

    [Fact]
    public async Task An_expired_registration_challenge_is_refused()
    {
        using var isolated = new PortalAppFactory();
        var local = new PasskeyBench(isolated);
        var userId = await local.CreateUserAsync();
        using var authenticator = local.NewAuthenticator();
        var start = await local.BeginRegistrationAsync(userId);
        isolated.Time.Advance(TimeSpan.FromMinutes(5));

        var outcome = await local.CompleteRegistrationAsync(userId, start.CeremonyId!, "Late", authenticator.CreateCredential(start.OptionsJson!));

        Assert.Equal(PasskeyMessages.RequestExpired, outcome.Error);
        Assert.Empty(await local.PasskeysAsync(userId));
    }

    [Fact]
    public async Task A_registration_challenge_works_once_and_only_for_its_account()
    {
        var userId = await bench.CreateUserAsync();
        var stranger = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var start = await bench.BeginRegistrationAsync(userId);
        var credential = authenticator.CreateCredential(start.OptionsJson!);

        Assert.Equal(PasskeyMessages.RequestExpired, (await bench.CompleteRegistrationAsync(stranger, start.CeremonyId!, "Theirs", credential)).Error);
        Assert.True((await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Mine", credential)).Succeeded);
        Assert.Equal(PasskeyMessages.RequestExpired, (await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Again", credential)).Error);
        Assert.Single(await bench.PasskeysAsync(userId));
        Assert.Empty(await bench.PasskeysAsync(stranger));
    }

    public static TheoryData<string, RegistrationOverrides, string> BadRegistrations => new()
    {
        { "wrong origin", new RegistrationOverrides { Origin = "https://evil.example" }, PasskeyMessages.WrongOrigin },
        { "wrong rpIdHash", new RegistrationOverrides { RpId = "evil.example" }, PasskeyMessages.WrongOrigin },
        { "assertion type", new RegistrationOverrides { Type = "webauthn.get" }, PasskeyMessages.NotVerified },
        { "other challenge", new RegistrationOverrides { Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, PasskeyMessages.NotVerified },
        { "no user presence", new RegistrationOverrides { UserPresent = false }, PasskeyMessages.NotVerified },
    };

    [Theory]
    [MemberData(nameof(BadRegistrations))]
    public async Task Registrations_that_fail_verification_store_nothing(string because, RegistrationOverrides overrides, string message)
    {
        var userId = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var start = await bench.BeginRegistrationAsync(userId);

        var outcome = await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", authenticator.CreateCredential(start.OptionsJson!, overrides));

        Assert.True(outcome.Error == message, $"{because}: {outcome.Error}");
        Assert.Empty(await bench.PasskeysAsync(userId));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{}")]
    [InlineData("[]")]
    [InlineData("{\"id\":\"abc\",\"rawId\":\"!!!not-base64url!!!\",\"type\":\"public-key\",\"response\":{}}")]
    [InlineData("{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\",\"response\":{\"clientDataJSON\":\"e30\",\"attestationObject\":\"oWNmbXQ\"}}")]
    [InlineData("{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\",\"response\":{\"clientDataJSON\":\"bm90IGpzb24\",\"attestationObject\":\"_w\"}}")]
    public async Task Malformed_answers_get_a_clear_message(string credentialJson)
    {
        var userId = await bench.CreateUserAsync();
        var start = await bench.BeginRegistrationAsync(userId);

        var outcome = await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", credentialJson);

        Assert.Contains(outcome.Error, new[] { PasskeyMessages.Unreadable, PasskeyMessages.NotVerified });
        Assert.Empty(await bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task An_oversized_answer_is_refused_unread()
    {
        var userId = await bench.CreateUserAsync();
        var start = await bench.BeginRegistrationAsync(userId);

        var outcome = await bench.CompleteRegistrationAsync(userId, start.CeremonyId!, "Key", new string('a', 17 * 1024));

        Assert.Equal(PasskeyMessages.Unreadable, outcome.Error);
        Assert.Empty(await bench.PasskeysAsync(userId));
    }

    [Fact]
    public async Task Rename_and_delete_apply_only_to_the_owners_passkeys()
    {
        var owner = await bench.CreateUserAsync();
        var stranger = await bench.CreateUserAsync();
        using var authenticator = bench.NewAuthenticator();
        var passkeyId = await bench.RegisterAsync(owner, authenticator, "Original");

        var management = (Func<IServiceProvider, PasskeyManagement>)(s => s.GetRequiredService<PasskeyManagement>());
        var strangerBrowser = await bench.SignedInBrowserAsync(stranger);
        var ownerBrowser = await bench.SignedInBrowserAsync(owner);
        Assert.False((await bench.WithAsync(s => management(s).RenameAsync(stranger, passkeyId, "Stolen", strangerBrowser))).Succeeded);
        Assert.False((await bench.WithAsync(s => management(s).DeleteAsync(stranger, passkeyId, strangerBrowser))).Succeeded);
        // The owner's passkey from the owner's id but a stranger's confirmed browser: refused, needs the owner's own confirmation.
        Assert.Equal(Features.Accounts.Sessions.RecentConfirmation.Required, (await bench.WithAsync(s => management(s).DeleteAsync(owner, passkeyId, strangerBrowser))).Error);
        Assert.Equal("Original", Assert.Single(await bench.PasskeysAsync(owner)).Name);

        Assert.Equal("Enter a name for the passkey.", (await bench.WithAsync(s => management(s).RenameAsync(owner, passkeyId, " ", ownerBrowser))).Error);
        Assert.True((await bench.WithAsync(s => management(s).RenameAsync(owner, passkeyId, " Renamed ", ownerBrowser))).Succeeded);
        Assert.Equal("Renamed", Assert.Single(await bench.PasskeysAsync(owner)).Name);

        Assert.True((await bench.WithAsync(s => management(s).DeleteAsync(owner, passkeyId, ownerBrowser))).Succeeded);
        Assert.Empty(await bench.PasskeysAsync(owner));
        Assert.Null(await bench.WithAsync(s => s.GetRequiredService<SecondFactorDirectory>().RequiredForAsync(owner)));
    }

    private static byte[] NewId() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
}
