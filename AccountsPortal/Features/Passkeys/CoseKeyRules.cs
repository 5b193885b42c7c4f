using System.Formats.Cbor;
using System.Numerics;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// What a new passkey's COSE public key must be beyond what Fido2NetLib checks: Fido2NetLib imports an RSA key of any
/// size, but RFC 8230 §6 requires at least <see cref="MinRsaModulusBits"/> bits for RS256 and PS256 (a smaller modulus
/// can be factored). EC2 and OKP keys are already refused by Fido2NetLib unless they are a valid point of their curve.
/// </summary>
internal static class CoseKeyRules
{
    public const int MinRsaModulusBits = 2048;

    // COSE (RFC 9052 §7, RFC 8230 §4): label 1 is the key type (3 = RSA), label -1 the RSA modulus n.
    private const int KeyTypeLabel = 1;
    private const int RsaKeyType = 3;
    private const int RsaModulusLabel = -1;

    /// <summary>Whether <paramref name="coseKey"/> (as Fido2NetLib accepted it) may be stored: false for an RSA key under the minimum size.</summary>
    public static bool IsStrongEnough(byte[] coseKey)
    {
        try
        {
            var reader = new CborReader(coseKey, CborConformanceMode.Lax);
            reader.ReadStartMap();
            long? keyType = null;
            byte[]? modulus = null;
            while (reader.PeekState() != CborReaderState.EndMap)
            {
                long? label = reader.PeekState() is CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger ? reader.ReadInt64() : null;
                if (label is null)
                {
                    reader.SkipValue();
                }

                switch (label, reader.PeekState())
                {
                    case (KeyTypeLabel, CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger):
                        keyType = reader.ReadInt64();
                        break;
                    case (RsaModulusLabel, CborReaderState.ByteString):
                        modulus = reader.ReadByteString();
                        break;
                    default:
                        reader.SkipValue();
                        break;
                }
            }

            return keyType != RsaKeyType || (modulus is not null && new BigInteger(modulus, isUnsigned: true, isBigEndian: true).GetBitLength() >= MinRsaModulusBits);
        }
        catch (Exception exception) when (WebAuthnFailures.IsMalformedInput(exception))
        {
            return false;
        }
    }
}
