using System.Buffers.Text;
using System.Security.Cryptography;
using AccountsPortal.Features.Passkeys;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Time.Testing;

namespace AccountsPortal.Tests.Unit;

public sealed class PasskeyChallengesTests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(3);
    private readonly FakeTimeProvider time = new(DateTimeOffset.UtcNow);
    private readonly PasskeyChallenges challenges;

    public PasskeyChallengesTests() => challenges = new PasskeyChallenges(new EphemeralDataProtectionProvider(), time);

    private string Issue(CeremonyPurpose purpose = CeremonyPurpose.Login, string? userId = "user-1", string? boundTo = "session-1", params byte[][] offered) =>
        Base64Url.EncodeToString(challenges.Issue(purpose, userId, boundTo, offered, Lifetime));

    [Fact]
    public void A_challenge_opens_for_what_it_was_issued_for_until_it_expires()
    {
        var issued = Issue();

        var opened = challenges.Open(issued, CeremonyPurpose.Login, "user-1", "session-1");

        Assert.NotNull(opened);
        Assert.Equal(Base64Url.DecodeFromChars(issued), opened.Challenge);
        Assert.Equal(time.GetUtcNow() + Lifetime, opened.ExpiresAt, TimeSpan.FromMilliseconds(1));
        Assert.Equal(Base64Url.EncodeToString(SHA256.HashData(opened.Challenge)), opened.UseId);
        time.Advance(Lifetime - TimeSpan.FromMilliseconds(1));
        Assert.NotNull(challenges.Open(issued, CeremonyPurpose.Login, "user-1", "session-1"));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(challenges.Open(issued, CeremonyPurpose.Login, "user-1", "session-1"));
    }

    [Fact]
    public void Two_challenges_for_the_same_login_differ_and_are_used_up_apart()
    {
        var first = challenges.Open(Issue(), CeremonyPurpose.Login, "user-1", "session-1")!;
        var second = challenges.Open(Issue(), CeremonyPurpose.Login, "user-1", "session-1")!;

        Assert.NotEqual(first.UseId, second.UseId);
    }

    [Theory]
    [InlineData(CeremonyPurpose.Confirmation, "user-1", "session-1")]
    [InlineData(CeremonyPurpose.SignIn, "user-1", "session-1")]
    [InlineData(CeremonyPurpose.Login, "user-2", "session-1")]
    [InlineData(CeremonyPurpose.Login, null, "session-1")]
    [InlineData(CeremonyPurpose.Login, "user-1", "session-2")]
    [InlineData(CeremonyPurpose.Login, "user-1", null)]
    public void A_challenge_opens_for_nothing_else(CeremonyPurpose purpose, string? userId, string? boundTo) =>
        Assert.Null(challenges.Open(Issue(), purpose, userId, boundTo));

    [Fact]
    public void A_sign_in_challenge_bound_to_nothing_opens_only_as_such()
    {
        var issued = Issue(CeremonyPurpose.SignIn, null, null);

        Assert.NotNull(challenges.Open(issued, CeremonyPurpose.SignIn, null, null));
        Assert.Null(challenges.Open(issued, CeremonyPurpose.SignIn, null, "app:test-app"));
        Assert.Null(challenges.Open(issued, CeremonyPurpose.SignIn, "", ""));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64url!")]
    [InlineData("AAAA")]
    public void Unreadable_or_unissued_challenges_do_not_open(string challenge) =>
        Assert.Null(challenges.Open(challenge, CeremonyPurpose.Login, "user-1", "session-1"));

    [Theory]
    [InlineData("version 1 (no completeness byte)")]
    [InlineData("completeness byte 2")]
    [InlineData("a stray byte after the digests")]
    [InlineData("shorter than the header")]
    public void A_payload_sealed_with_the_right_key_but_malformed_does_not_open(string malformation)
    {
        var keys = new EphemeralDataProtectionProvider();
        var sealer = new PasskeyChallenges(keys, time);
        // The wire format, written out here on purpose: version, expiry (ms, big-endian), 16 random bytes, completeness, digests.
        var payload = new byte[1 + 8 + 16 + 1 + 8];
        payload[0] = 2;
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(1), (time.GetUtcNow() + Lifetime).ToUnixTimeMilliseconds());
        payload[25] = 1;
        var protector = keys.CreateProtector("AccountsPortal.Passkeys.AssertionChallenge.v1").CreateProtector("Login", "user:user-1", "bound:session-1");
        string Seal(byte[] bytes) => Base64Url.EncodeToString(protector.Protect(bytes));
        // The well-formed payload opens: the purposes above are the class's own, so only the malformation refuses below.
        Assert.NotNull(sealer.Open(Seal(payload), CeremonyPurpose.Login, "user-1", "session-1"));

        byte[] malformed = malformation switch
        {
            "version 1 (no completeness byte)" => [1, .. payload[1..25], .. payload[26..]],
            "completeness byte 2" => [.. payload[..25], 2, .. payload[26..]],
            "a stray byte after the digests" => [.. payload, 0],
            _ => payload[..20],
        };

        Assert.Null(sealer.Open(Seal(malformed), CeremonyPurpose.Login, "user-1", "session-1"));
    }

    [Fact]
    public void A_sign_in_challenge_offers_no_list_so_any_credential_may_answer_it()
    {
        var opened = challenges.Open(Issue(CeremonyPurpose.SignIn, null, null), CeremonyPurpose.SignIn, null, null)!;

        Assert.True(opened.Allows(RandomNumberGenerator.GetBytes(32)));
        Assert.False(opened.Offered(RandomNumberGenerator.GetBytes(32)));
    }

    [Fact]
    public void A_challenge_from_another_key_ring_or_longer_than_the_limit_does_not_open()
    {
        var elsewhere = new PasskeyChallenges(new EphemeralDataProtectionProvider(), time);
        var foreign = Base64Url.EncodeToString(elsewhere.Issue(CeremonyPurpose.Login, "user-1", "session-1", [], Lifetime));

        Assert.Null(challenges.Open(foreign, CeremonyPurpose.Login, "user-1", "session-1"));
        Assert.Null(challenges.Open(new string('A', PasskeyChallenges.MaxEncodedLength + 1), CeremonyPurpose.Login, "user-1", "session-1"));
    }

    [Fact]
    public void A_challenge_remembers_the_credentials_its_options_offered_and_stays_within_the_limit_with_the_most()
    {
        var offered = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        var opened = challenges.Open(Issue(offered: offered), CeremonyPurpose.Login, "user-1", "session-1")!;

        Assert.All(offered, id => Assert.True(opened.Offered(id) && opened.Allows(id)));
        var other = RandomNumberGenerator.GetBytes(32);
        Assert.False(opened.Offered(other));
        Assert.False(opened.Allows(other));

        var most = Enumerable.Range(0, PasskeyChallenges.MaxOfferedCredentials + 5).Select(_ => RandomNumberGenerator.GetBytes(64)).ToArray();
        var issued = Issue(offered: most);
        var full = challenges.Open(issued, CeremonyPurpose.Login, "user-1", "session-1")!;
        Assert.True(issued.Length <= PasskeyChallenges.MaxEncodedLength, $"{issued.Length} characters");
        Assert.True(full.Offered(most[PasskeyChallenges.MaxOfferedCredentials - 1]));
        Assert.False(full.Offered(most[PasskeyChallenges.MaxOfferedCredentials]));
        // Beyond the ceiling the list is incomplete: any passkey of the account may answer, none beyond it is named.
        Assert.True(full.Allows(most[PasskeyChallenges.MaxOfferedCredentials]));
    }
}
