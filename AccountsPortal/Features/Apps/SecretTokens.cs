using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace AccountsPortal.Features.Apps;

/// <summary>Random 256-bit bearer values (tokens, session secrets, codes) and the hashes stored in their place.</summary>
internal static class SecretTokens
{
    public static string New() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
