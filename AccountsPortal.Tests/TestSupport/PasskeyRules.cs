using System.Text.Json.Nodes;
using AccountsPortal.Features.Passkeys;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// Assertions that test one rule of the passkey step each, for running the same inputs through the
/// browser path (the verify page) and the API path: both must answer alike.
/// </summary>
public static class PasskeyRules
{
    public const string CounterDidNotMove = "counter did not move";
    public const string BackupEligibilityChanged = "backup eligibility changed";
    public const string AnotherAccountsPasskey = "another account's passkey";
    public const string EmptyUserHandle = "empty user handle";

    public static TheoryData<string> All => new() { CounterDidNotMove, BackupEligibilityChanged, AnotherAccountsPasskey, EmptyUserHandle };

    /// <summary>What the rule needs beforehand: a first use (the stored counter is then 1), or a stranger's registered passkey.</summary>
    public static async Task PrepareAsync(string rule, PasskeyBench bench, string userId, SoftwareAuthenticator own, SoftwareAuthenticator stranger)
    {
        if (rule == CounterDidNotMove)
        {
            var first = await bench.LogInAsync(await bench.StartLoginAsync(userId), own);
            Assert.True(first.Succeeded, first.Error);
        }
        else if (rule == AnotherAccountsPasskey)
        {
            await bench.RegisterAsync(await bench.CreateUserAsync(), stranger);
        }
    }

    /// <summary>The answer to <paramref name="optionsJson"/> and the message expected for it (null: it verifies).</summary>
    public static (string Answer, string? Message) Answer(string rule, string optionsJson, SoftwareAuthenticator own, SoftwareAuthenticator stranger) => rule switch
    {
        CounterDidNotMove => (own.GetAssertion(optionsJson, new AssertionOverrides { SignCount = 1 }), PasskeyMessages.PossiblyCloned),
        BackupEligibilityChanged => (own.GetAssertion(optionsJson, new AssertionOverrides { BackupEligible = true }), PasskeyMessages.NotVerified),
        AnotherAccountsPasskey => (stranger.GetAssertion(optionsJson, new AssertionOverrides { Credential = stranger.Credentials[0] }), PasskeyMessages.NotThisAccount),
        EmptyUserHandle => (own.GetAssertion(optionsJson, new AssertionOverrides { ResponseMembers = new Dictionary<string, JsonNode?> { ["userHandle"] = "" } }), null),
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };
}
