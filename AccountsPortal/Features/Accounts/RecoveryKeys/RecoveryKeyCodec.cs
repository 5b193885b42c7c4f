using System.Security.Cryptography;
using System.Text;

namespace AccountsPortal.Features.Accounts.RecoveryKeys;

/// <summary>
/// Turns the 32 random bytes of a recovery key into 24 BIP-39 words (256 bits of entropy plus an
/// 8-bit SHA-256 checksum, 11 bits a word) and back. The 64-character hex form is also read.
/// </summary>
public static class RecoveryKeyCodec
{
    public const int KeyLength = 32;
    public const int WordsPerKey = 24;
    public const int MaxInputLength = 512;
    private const int BitsPerWord = 11;

    public static string[] ToWords(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeyLength)
        {
            throw new ArgumentException($"A recovery key is {KeyLength} bytes.", nameof(key));
        }

        // 33 bytes: the key followed by the first byte of its hash; 24 * 11 = 264 bits.
        Span<byte> bits = stackalloc byte[KeyLength + 1];
        key.CopyTo(bits);
        bits[KeyLength] = SHA256.HashData(key)[0];

        var words = new string[WordsPerKey];
        for (var i = 0; i < WordsPerKey; i++)
        {
            words[i] = Bip39WordList.Words[ReadBits(bits, i * BitsPerWord, BitsPerWord)];
        }

        return words;
    }

    /// <summary>Reads a recovery key typed by a person: 24 words in any case and spacing, or 64 hex digits.</summary>
    public static RecoveryKeyParseResult Parse(string? input)
    {
        if (string.IsNullOrWhiteSpace(input))
        {
            return RecoveryKeyParseResult.Fail("Enter your recovery key.");
        }

        if (input.Length > MaxInputLength)
        {
            return RecoveryKeyParseResult.Fail("That is too long to be a recovery key.");
        }

        var normalized = input.Normalize(NormalizationForm.FormKC).Trim();
        var parts = normalized.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

        if (parts.Length == 1 && parts[0].Length == KeyLength * 2 && IsHex(parts[0]))
        {
            return RecoveryKeyParseResult.Success(Convert.FromHexString(parts[0]));
        }

        if (parts.Length != WordsPerKey)
        {
            return RecoveryKeyParseResult.Fail($"A recovery key has {WordsPerKey} words; this has {parts.Length}.");
        }

        Span<byte> bits = stackalloc byte[KeyLength + 1];
        bits.Clear();
        for (var i = 0; i < WordsPerKey; i++)
        {
            var word = parts[i].ToLowerInvariant();
            if (!Bip39WordList.TryGetIndex(word, out var index))
            {
                return RecoveryKeyParseResult.Fail($"Word {i + 1} is not a recovery key word.");
            }

            WriteBits(bits, i * BitsPerWord, BitsPerWord, index);
        }

        var key = bits[..KeyLength].ToArray();
        if (SHA256.HashData(key)[0] != bits[KeyLength])
        {
            return RecoveryKeyParseResult.Fail("These words are not a valid recovery key. Check them for typos.");
        }

        return RecoveryKeyParseResult.Success(key);
    }

    private static bool IsHex(string text) =>
        text.All(c => char.IsAsciiHexDigit(c));

    private static int ReadBits(ReadOnlySpan<byte> data, int offset, int count)
    {
        var value = 0;
        for (var i = 0; i < count; i++)
        {
            var bit = offset + i;
            value = (value << 1) | ((data[bit / 8] >> (7 - (bit % 8))) & 1);
        }

        return value;
    }

    private static void WriteBits(Span<byte> data, int offset, int count, int value)
    {
        for (var i = 0; i < count; i++)
        {
            var bit = offset + i;
            if (((value >> (count - 1 - i)) & 1) == 1)
            {
                data[bit / 8] |= (byte)(0x80 >> (bit % 8));
            }
        }
    }
}

public sealed record RecoveryKeyParseResult(byte[]? Key, string? Error)
{
    public bool Succeeded => Key is not null;

    public static RecoveryKeyParseResult Success(byte[] key) => new(key, null);

    public static RecoveryKeyParseResult Fail(string error) => new(null, error);
}
