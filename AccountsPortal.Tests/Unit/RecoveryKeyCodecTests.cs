using System.Security.Cryptography;
using AccountsPortal.Features.Accounts.RecoveryKeys;

namespace AccountsPortal.Tests.Unit;

public sealed class RecoveryKeyCodecTests
{
    [Fact]
    public void Embedded_word_list_is_the_bip39_standard_file()
    {
        using var stream = typeof(Bip39WordList).Assembly.GetManifestResourceStream(Bip39WordList.ResourceName)!;
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream));

        Assert.Equal("2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda", hash);
        Assert.Equal(2048, Bip39WordList.Words.Count);
        Assert.Equal("abandon", Bip39WordList.Words[0]);
        Assert.Equal("zoo", Bip39WordList.Words[2047]);
    }

    // Test vectors from the BIP-39 reference implementation (256-bit entropy).
    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art")]
    [InlineData("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title")]
    [InlineData("8080808080808080808080808080808080808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless")]
    [InlineData("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote")]
    [InlineData("68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
        "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length")]
    public void Encodes_and_decodes_the_reference_vectors(string entropyHex, string mnemonic)
    {
        var entropy = Convert.FromHexString(entropyHex);

        Assert.Equal(mnemonic, string.Join(' ', RecoveryKeyCodec.ToWords(entropy)));
        var parsed = RecoveryKeyCodec.Parse(mnemonic);
        Assert.True(parsed.Succeeded, parsed.Error);
        Assert.Equal(entropy, parsed.Key);
    }

    [Fact]
    public void Random_keys_round_trip_through_words_and_hex()
    {
        for (var i = 0; i < 200; i++)
        {
            var key = RandomNumberGenerator.GetBytes(32);
            Assert.Equal(key, RecoveryKeyCodec.Parse(string.Join(' ', RecoveryKeyCodec.ToWords(key))).Key);
            Assert.Equal(key, RecoveryKeyCodec.Parse(Convert.ToHexString(key)).Key);
            Assert.Equal(key, RecoveryKeyCodec.Parse(Convert.ToHexStringLower(key)).Key);
        }
    }

    [Fact]
    public void Reads_words_in_any_case_and_spacing()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var words = RecoveryKeyCodec.ToWords(key);
        var messy = "  " + string.Join("  \n\t ", words.Select((w, i) => i % 2 == 0 ? w.ToUpperInvariant() : w)) + " \r\n";

        Assert.Equal(key, RecoveryKeyCodec.Parse(messy).Key);
    }

    [Fact]
    public void Refuses_a_wrong_checksum()
    {
        var words = RecoveryKeyCodec.ToWords(new byte[32]);
        words[^1] = words[^1] == "art" ? "able" : "art";

        var result = RecoveryKeyCodec.Parse(string.Join(' ', words));

        Assert.False(result.Succeeded);
        Assert.Contains("not a valid recovery key", result.Error);
    }

    [Theory]
    [InlineData(23)]
    [InlineData(25)]
    [InlineData(12)]
    public void Refuses_a_wrong_word_count(int count)
    {
        var input = string.Join(' ', Enumerable.Repeat("abandon", count));

        var result = RecoveryKeyCodec.Parse(input);

        Assert.False(result.Succeeded);
        Assert.Equal($"A recovery key has 24 words; this has {count}.", result.Error);
    }

    [Fact]
    public void Refuses_an_unknown_word_and_names_its_position()
    {
        var words = RecoveryKeyCodec.ToWords(new byte[32]);
        words[4] = "notaword";

        Assert.Equal("Word 5 is not a recovery key word.", RecoveryKeyCodec.Parse(string.Join(' ', words)).Error);
    }

    [Fact]
    public void Refuses_over_long_input_before_any_work()
    {
        var input = string.Join(' ', RecoveryKeyCodec.ToWords(new byte[32])) + new string(' ', 600);

        Assert.Equal("That is too long to be a recovery key.", RecoveryKeyCodec.Parse(input).Error);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Refuses_empty_input(string? input) =>
        Assert.Equal("Enter your recovery key.", RecoveryKeyCodec.Parse(input).Error);
}
