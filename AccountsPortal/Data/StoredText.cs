namespace AccountsPortal.Data;

/// <summary>Text made to fit a column.</summary>
public static class StoredText
{
    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="maxLength"/> UTF-16 code units, never between the two
    /// halves of a surrogate pair: PostgreSQL (through Npgsql's strict UTF-8 encoding) refuses a lone surrogate, so a
    /// blind cut could make the write fail.
    /// </summary>
    /// <returns>Null for null; the text itself when it fits.</returns>
    public static string? Truncate(string? text, int maxLength)
    {
        if (text is null || text.Length <= maxLength)
        {
            return text;
        }

        var cut = maxLength > 0 && char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return text[..cut];
    }
}
