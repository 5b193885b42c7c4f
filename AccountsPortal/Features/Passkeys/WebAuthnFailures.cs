using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text.Json;
using Fido2NetLib;
using Fido2NetLib.Exceptions;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// Sorts what can go wrong with a credential sent by a browser or app into clear messages: every
/// malformed or unverifiable input becomes a message, never an unhandled exception.
/// </summary>
internal static class WebAuthnFailures
{
    /// <summary>Input that could not be parsed: JSON, base64url, CBOR, or shapes the library rejects while reading.</summary>
    public static bool IsMalformedInput(Exception exception) =>
        exception is JsonException or FormatException or CborContentException or ArgumentException
            or InvalidOperationException or NotSupportedException or OverflowException or IndexOutOfRangeException;

    public static bool IsVerificationFailure(Exception exception) =>
        exception is Fido2VerificationException or CryptographicException || IsMalformedInput(exception);

    public static string MessageFor(Exception exception) => exception switch
    {
        Fido2VerificationException { Code: Fido2ErrorCode.NonUniqueCredentialId } => PasskeyMessages.AlreadyRegistered,
        Fido2VerificationException { Code: Fido2ErrorCode.InvalidAuthenticatorResponseOrigin or Fido2ErrorCode.InvalidRpidHash }
            => PasskeyMessages.WrongOrigin,
        Fido2VerificationException { Code: Fido2ErrorCode.InvalidSignCount } => PasskeyMessages.PossiblyCloned,
        Fido2VerificationException => PasskeyMessages.NotVerified,
        _ => PasskeyMessages.Unreadable,
    };

    /// <summary>For logs: the failure's kind, never the credential or challenge.</summary>
    public static string Describe(Exception exception) => exception switch
    {
        Fido2VerificationException verification => $"{verification.Code}",
        _ => exception.GetType().Name,
    };
}
