using Microsoft.AspNetCore.DataProtection;
using OtpNet;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>TOTP secrets: generated, encrypted at rest with Data Protection, and checked against codes.</summary>
public sealed class TotpSecrets(IDataProtectionProvider dataProtection)
{
    public const int SecretLength = 20;
    private const int StepSeconds = 30;

    private readonly IDataProtector protector = dataProtection.CreateProtector("AccountsPortal.TotpSecret");

    public string Protect(byte[] secret) => protector.Protect(Base32Encoding.ToString(secret));

    public byte[] Unprotect(string protectedSecret) => Base32Encoding.ToBytes(protector.Unprotect(protectedSecret));

    /// <summary>The time step a normalised code matches at <paramref name="now"/>, within one step either way; null if none.</summary>
    public static long? MatchingStep(byte[] secret, string code, DateTimeOffset now)
    {
        var totp = new Totp(secret, step: StepSeconds, mode: OtpHashMode.Sha1, totpSize: TotpCode.Digits);
        return totp.VerifyTotp(now.UtcDateTime, code, out var step, new VerificationWindow(previous: 1, future: 1)) ? step : null;
    }

    /// <summary>The code for <paramref name="now"/>: what an authenticator app would show.</summary>
    public static string CodeAt(byte[] secret, DateTimeOffset now) =>
        new Totp(secret, step: StepSeconds, mode: OtpHashMode.Sha1, totpSize: TotpCode.Digits).ComputeTotp(now.UtcDateTime);
}
