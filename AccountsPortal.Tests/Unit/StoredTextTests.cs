using AccountsPortal.Data;

namespace AccountsPortal.Tests.Unit;

public sealed class StoredTextTests
{
    [Theory]
    [InlineData("abcdef", 4, "abcd")]
    [InlineData("abc", 4, "abc")]
    [InlineData("ab\U0001F511cd", 3, "ab")]
    [InlineData("ab\U0001F511cd", 4, "ab\U0001F511")]
    [InlineData("\U0001F511", 1, "")]
    public void Text_is_cut_to_fit_but_never_between_the_halves_of_a_surrogate_pair(string text, int max, string expected)
    {
        var cut = StoredText.Truncate(text, max)!;

        Assert.Equal(expected, cut);
        Assert.True(cut.Length <= max);
        Assert.False(cut.Length > 0 && char.IsHighSurrogate(cut[^1]));
    }

    [Fact]
    public void Null_stays_null() => Assert.Null(StoredText.Truncate(null, 4));
}
