using System.Globalization;
using System.Text;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>Reads a 6-digit code as people type or paste it: spaces, dashes and any script's digits (e.g. full-width) are fine.</summary>
public static class TotpCode
{
    public const int Digits = 6;
    private const int MaxInputLength = 64;

    public static string? Normalize(string? input)
    {
        if (string.IsNullOrEmpty(input) || input.Length > MaxInputLength)
        {
            return null;
        }

        var digits = new StringBuilder(Digits);
        foreach (var c in input.Normalize(NormalizationForm.FormKC))
        {
            var value = CharUnicodeInfo.GetDecimalDigitValue(c);
            if (value >= 0)
            {
                digits.Append((char)('0' + value));
            }
            else if (!char.IsWhiteSpace(c) && c is not '-' and not '\u2010' and not '\u2011' and not '\u2012' and not '\u2013' and not '\u2212' and not '.')
            {
                return null;
            }
        }

        return digits.Length == Digits ? digits.ToString() : null;
    }
}
