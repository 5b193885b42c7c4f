using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace AccountsPortal.Features.Accounts;

/// <summary>Random 256-bit values, base64url (ids, tokens, secrets, codes), and the SHA-256 stored in place of a secret.</summary>
public static class SecretTokens
{
    public static string New() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
