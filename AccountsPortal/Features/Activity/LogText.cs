using System.Globalization;
using System.Text;

namespace AccountsPortal.Features.Activity;

/// <summary>
/// Text from a person, a client or a library, made safe for a log line: control characters (CR and LF among them),
/// line and paragraph separators and the characters that reorder text are written as <c>\uXXXX</c>, and anything past
/// <see cref="MaxLength"/> characters is cut with an ellipsis. A line break in an email address, a passkey name or an
/// exception's message therefore cannot start a line that looks like the portal's own. A null value reads as "-".
/// </summary>
public readonly record struct LogText(string? Value)
{
    /// <summary>The most characters of the original kept.</summary>
    public const int MaxLength = 256;

    /// <summary>Wraps a string so loggers format it encoded.</summary>
    public static implicit operator LogText(string? value) => new(value);

    /// <summary>The encoded text.</summary>
    public override string ToString() => Encode(Value);

    /// <summary>Encodes <paramref name="value"/> as described on <see cref="LogText"/>.</summary>
    public static string Encode(string? value)
    {
        if (value is null)
        {
            return "-";
        }

        var text = value.Length > MaxLength ? value[..MaxLength] : value;
        var encoded = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069'))
            {
                encoded.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                encoded.Append(c);
            }
        }

        return value.Length > MaxLength ? encoded.Append('…').ToString() : encoded.ToString();
    }
}
