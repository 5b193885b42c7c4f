using AccountsPortal.Features.TwoFactor;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>Drives the portal's TOTP and recovery services; plays the authenticator app with the shared secret.</summary>
public sealed class TotpBench(PortalAppFactory app)
{
    public PasskeyBench Passkeys { get; } = new(app);

    /// <summary>Enables an authenticator app for the user the way the page does, and returns its secret.</summary>
    public async Task<byte[]> EnableAsync(string userId)
    {
        var enrollment = Passkeys.WithAsync(s => Task.FromResult(s.GetRequiredService<TotpSetup>().NewEnrollment("someone@example.test")));
        var secret = (await enrollment).SecretBase32;
        var bytes = Base32Encoding.ToBytes(secret);
        var session = await Passkeys.SignedInBrowserAsync(userId);
        var error = await Passkeys.WithAsync(s => s.GetRequiredService<TotpSetup>().ConfirmAsync(userId, secret, CodeAt(bytes, TimeSpan.Zero), replaceExisting: false, session));
        Assert.Null(error);
        return bytes;
    }

    /// <summary>The code the app shows now, or at an offset from now, as RFC 6238 computes it (never the portal's own code).</summary>
    public string CodeAt(byte[] secret, TimeSpan offset) => Rfc6238.Code(secret, app.Clock.GetUtcNow() + offset);

    /// <summary>A well-formed code that is none of those accepted now (the current step and one either side): a wrong guess for sure.</summary>
    public string WrongCode(byte[] secret)
    {
        var accepted = new[] { -30, 0, 30 }.Select(offset => CodeAt(secret, TimeSpan.FromSeconds(offset))).ToHashSet();
        return Enumerable.Range(0, 4).Select(i => new string((char)('0' + i), 6)).First(code => !accepted.Contains(code));
    }

    public Task<SecondFactorResult> VerifyAsync(string sessionId, string? code) =>
        Passkeys.WithAsync(s => s.GetRequiredService<TotpLogin>().VerifyAsync(sessionId, code, Passkeys.ProofOf(sessionId)));

    /// <summary>Wrong codes and recovery keys counted toward the account's lockout in the current window.</summary>
    public Task<int> FailuresAsync(string userId) =>
        Passkeys.WithAsync(s => s.GetRequiredService<SecondFactorLockout>().FailuresAsync(userId));
}
