using System.Globalization;
using System.Text;

namespace AccountsPortal.Features.Passkeys;

/// <summary>The rules for a passkey's name: trimmed, NFC-normalised, 1 to N characters, no control or bidi-override characters.</summary>
public static class PasskeyName
{
    public static PasskeyNameResult Normalize(string? input, int maxLength)
    {
        var name = (input ?? "").Normalize(NormalizationForm.FormC).Trim();
        if (name.Length == 0)
        {
            return PasskeyNameResult.Fail("Enter a name for the passkey.");
        }

        if (name.EnumerateRunes().Any(IsForbidden))
        {
            return PasskeyNameResult.Fail("The name contains invisible control characters. Use letters, digits, spaces and punctuation.");
        }

        var length = new StringInfo(name).LengthInTextElements;
        if (length > maxLength)
        {
            return PasskeyNameResult.Fail($"A passkey name can be at most {maxLength} characters.");
        }

        return new PasskeyNameResult(name, null);
    }

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
