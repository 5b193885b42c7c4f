using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// TOTP exactly as RFC 6238 defines it for HMAC-SHA-1 (30-second steps counted from the Unix epoch, RFC 4226
/// dynamic truncation), written out here so that tests compute the codes an authenticator app shows without
/// the portal's code or the library it uses (Otp.NET). Checked against the RFC's own test vectors
/// (<see cref="Unit.TotpTestVectorTests"/>).
/// </summary>
public static class Rfc6238
{
    /// <summary>The time step, X in RFC 6238 §4.1.</summary>
    public const int StepSeconds = 30;

    /// <summary>The time step T that <paramref name="at"/> falls in (RFC 6238 §4.2, T0 = 0).</summary>
    public static long StepAt(DateTimeOffset at) => (long)Math.Floor(at.ToUnixTimeMilliseconds() / 1000.0 / StepSeconds);

    /// <summary>The <paramref name="digits"/>-digit code for time step <paramref name="step"/> (RFC 4226 §5.3).</summary>
    public static string CodeForStep(byte[] secret, long step, int digits = 6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digits, 6);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 8);
        Span<byte> counter = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(counter, step);
        var hash = HMACSHA1.HashData(secret, counter);
        var offset = hash[^1] & 0x0F;
        var binary = BinaryPrimitives.ReadInt32BigEndian(hash.AsSpan(offset, 4)) & 0x7FFFFFFF;
        var modulus = (int)Math.Pow(10, digits);
        return (binary % modulus).ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0');
    }

    /// <summary>The code an authenticator app shows at <paramref name="at"/>.</summary>
    public static string Code(byte[] secret, DateTimeOffset at, int digits = 6) => CodeForStep(secret, StepAt(at), digits);
}
