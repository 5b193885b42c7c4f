using System.Globalization;
using System.Text;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The rules for a passkey's name: trimmed, NFC-normalised, 1 to N text elements (what a person counts as
/// characters) and at most <see cref="MaxBytes"/> bytes of UTF-8, no control or bidi-override characters.
/// </summary>
public static class PasskeyName
{
    /// <summary>
    /// The most UTF-8 bytes a stored name may take, whatever its text elements: one letter can carry
    /// thousands of combining marks. Also the database column's size, in characters.
    /// </summary>
    public const int MaxBytes = 256;

    /// <param name="maxLength">Text elements allowed (<c>Passkeys:MaxNameLength</c>); a longer name, or one over <see cref="MaxBytes"/>, gets the same length message.</param>
    public static PasskeyNameResult Normalize(string? input, int maxLength)
    {
        // Anything whose UTF-16 form is this long is over the byte limit: refused before normalising it.
        if (input is { Length: > MaxBytes * 2 })
        {
            return TooLong(maxLength);
        }

        var name = (input ?? "").Normalize(NormalizationForm.FormC).Trim();
        if (name.Length == 0)
        {
            return PasskeyNameResult.Fail("Enter a name for the passkey.");
        }

        if (name.EnumerateRunes().Any(IsForbidden))
        {
            return PasskeyNameResult.Fail("The name contains invisible control characters. Use letters, digits, spaces and punctuation.");
        }

        if (Encoding.UTF8.GetByteCount(name) > MaxBytes || new StringInfo(name).LengthInTextElements > maxLength)
        {
            return TooLong(maxLength);
        }

        return new PasskeyNameResult(name, null);
    }

    private static PasskeyNameResult TooLong(int maxLength) => PasskeyNameResult.Fail($"A passkey name can be at most {maxLength} characters.");

    // Control characters, line separators and the characters that reorder text (Trojan Source) could
    // make a name look like something else in the list.
    private static bool IsForbidden(Rune rune) =>
        Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
        || rune.Value is >= 0x202A and <= 0x202E or >= 0x2066 and <= 0x2069 or 0x200E or 0x200F or 0x061C;
}

public sealed record PasskeyNameResult(string? Name, string? Error)
{
    public bool IsValid => Name is not null;

    public static PasskeyNameResult Fail(string error) => new(null, error);
}
