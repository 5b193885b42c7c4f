using System.Text;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Unit;

/// <summary>
/// The test vectors of RFC 6238 Appendix B (HMAC-SHA-1 rows): they check the tests' own TOTP
/// (<see cref="Rfc6238"/>), which every other test uses to type codes, and then the portal against them.
/// The portal shows and accepts 6 digits: the vectors' last six.
/// </summary>
public sealed class TotpTestVectorTests
{
    /// <summary>The RFC's SHA-1 seed: the ASCII string "12345678901234567890".</summary>
    private static readonly byte[] Seed = Encoding.ASCII.GetBytes("12345678901234567890");

    public static TheoryData<long, string> Sha1Vectors => new()
    {
        { 59, "94287082" },
        { 1111111109, "07081804" },
        { 1111111111, "14050471" },
        { 1234567890, "89005924" },
        { 2000000000, "69279037" },
        { 20000000000, "65353130" },
    };

    [Theory]
    [MemberData(nameof(Sha1Vectors))]
    public void The_tests_totp_gives_the_rfc_6238_codes(long unixSeconds, string expected)
    {
        var at = DateTimeOffset.FromUnixTimeSeconds(unixSeconds);

        Assert.Equal(expected, Rfc6238.Code(Seed, at, digits: 8));
        Assert.Equal(expected[^6..], Rfc6238.Code(Seed, at));
    }

    [Theory]
    [MemberData(nameof(Sha1Vectors))]
    public void The_portal_accepts_the_rfc_6238_code_in_its_own_step_and_one_either_side_only(long unixSeconds, string expected)
    {
        var at = DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
        var code = expected[^6..];
        var step = unixSeconds / 30;

        DateTimeOffset StartOf(long otherStep) => DateTimeOffset.FromUnixTimeSeconds(otherStep * 30);

        Assert.Equal(step, TotpSecrets.MatchingStep(Seed, code, at));
        Assert.Equal(step, TotpSecrets.MatchingStep(Seed, code, StartOf(step + 1)));
        Assert.Equal(step, TotpSecrets.MatchingStep(Seed, code, StartOf(step - 1)));
        Assert.Null(TotpSecrets.MatchingStep(Seed, code, StartOf(step + 2)));
        // Two steps before the first vector would be before 1970.
        Assert.Null(step >= 2 ? TotpSecrets.MatchingStep(Seed, code, StartOf(step - 2).AddSeconds(29)) : null);
        // The portal's own generator (used by no page, kept for tools) agrees too.
        Assert.Equal(code, TotpSecrets.CodeAt(Seed, at));
    }

    [Fact]
    public async Task A_login_with_the_rfc_seed_takes_the_rfc_codes_at_their_times()
    {
        using var app = new PortalAppFactory();
        var totp = new TotpBench(app);
        var userId = await totp.Passkeys.CreateUserAsync();
        // Set up as the page does, with the RFC's seed as the secret the authenticator app holds.
        var browser = await totp.Passkeys.SignedInBrowserAsync(userId);
        var seedBase32 = OtpNet.Base32Encoding.ToString(Seed);
        var enabled = await totp.Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>()
            .ConfirmAsync(userId, seedBase32, Rfc6238.Code(Seed, app.Time.GetUtcNow()), replaceExisting: false, browser));
        Assert.Null(enabled);

        foreach (var (unixSeconds, expected) in new[] { (2000000000L, "279037"), (20000000000L, "353130") })
        {
            app.Time.SetUtcNow(DateTimeOffset.FromUnixTimeSeconds(unixSeconds));
            var sessionId = await totp.Passkeys.StartLoginAsync(userId);

            var result = await totp.VerifyAsync(sessionId, expected);

            Assert.True(result.Succeeded, $"{unixSeconds}: {result.Error}");
        }
    }
}
