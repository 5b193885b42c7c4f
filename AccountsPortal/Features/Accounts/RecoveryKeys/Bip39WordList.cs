using System.Collections.Frozen;

namespace AccountsPortal.Features.Accounts.RecoveryKeys;

/// <summary>The BIP-39 English word list, embedded in the assembly.</summary>
public static class Bip39WordList
{
    public const int WordCount = 2048;
    internal const string ResourceName = "AccountsPortal.bip39-english.txt";

    private static readonly Lazy<(string[] Words, FrozenDictionary<string, int> Indexes)> Data = new(Load);

    public static IReadOnlyList<string> Words => Data.Value.Words;

    public static bool TryGetIndex(string word, out int index) => Data.Value.Indexes.TryGetValue(word, out index);

    private static (string[], FrozenDictionary<string, int>) Load()
    {
        using var stream = typeof(Bip39WordList).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} is missing.");
        using var reader = new StreamReader(stream);
        var words = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length != WordCount)
        {
            throw new InvalidOperationException($"The BIP-39 word list has {words.Length} words instead of {WordCount}.");
        }

        var indexes = words.Select((word, index) => (word, index)).ToFrozenDictionary(pair => pair.word, pair => pair.index, StringComparer.Ordinal);
        return (words, indexes);
    }
}
