using System.Buffers;
using System.Buffers.Text;
using System.Collections.Frozen;
using System.Text.Json;
using AccountsPortal.Data;

namespace AccountsPortal.Features.Passkeys.Providers;

/// <summary>
/// A passkey provider as the community list names it (see <c>Providers/README.md</c>): what a passkey's AAGUID says
/// about where it is kept. A hint the passkey reports about itself, never a proof: the portal asks for no attestation.
/// </summary>
/// <param name="Name">The provider's name, e.g. "Apple Passwords", by the rules of a passkey's own name (<see cref="PasskeyName"/>) with at most <see cref="PasskeyProviders.MaxNameLength"/> characters.</param>
/// <param name="LightIcon">Its icon for a light background, a base64 <c>data:image/...</c> URI, or null when the list has none (or one the portal dropped).</param>
/// <param name="DarkIcon">Its icon for a dark background, as <paramref name="LightIcon"/>.</param>
public sealed record PasskeyProvider(string Name, string? LightIcon, string? DarkIcon)
{
    /// <summary>The icon for the portal's theme (<paramref name="darkMode"/>), or null when the list has none for it.</summary>
    public string? IconFor(bool darkMode) => darkMode ? DarkIcon : LightIcon;
}

/// <summary>
/// The passkey providers of the community-maintained AAGUID list shipped with the portal
/// (<see cref="FileName"/>, embedded in the assembly), read once at start. Look-ups by AAGUID (WebAuthn L3 §6.5.1,
/// attested credential data); the all-zero AAGUID ("not disclosed") and AAGUIDs not in the list have no provider.
/// </summary>
public sealed class PasskeyProviders
{
    /// <summary>The list's file in the source tree, named in start-up errors.</summary>
    public const string FileName = "Features/Passkeys/Providers/passkey-provider-aaguids.json";

    /// <summary>The longest provider name accepted, in text elements (and at most <see cref="PasskeyName.MaxBytes"/> bytes of UTF-8).</summary>
    public const int MaxNameLength = 64;

    /// <summary>The longest icon URI kept, in characters (64 KiB); a longer one is dropped. The shipped list's largest is about 20,000.</summary>
    public const int MaxIconLength = 64 * 1024;

    internal const string ResourceName = "AccountsPortal.passkey-provider-aaguids.json";

    private const string IconPrefix = "data:image/";
    private const string Base64Marker = ";base64,";

    private static readonly SearchValues<char> MediaTypeCharacters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-=;");

    private static readonly SearchValues<char> Base64Characters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=");

    private readonly FrozenDictionary<Guid, PasskeyProvider> providers;

    private PasskeyProviders(FrozenDictionary<Guid, PasskeyProvider> providers)
    {
        this.providers = providers;
    }

    /// <summary>How many AAGUIDs the list names.</summary>
    public int Count => providers.Count;

    /// <summary>The provider of <paramref name="aaguid"/>; null for the all-zero AAGUID and for any AAGUID not in the list.</summary>
    public PasskeyProvider? Find(Guid aaguid) => aaguid == Guid.Empty ? null : providers.GetValueOrDefault(aaguid);

    /// <summary>Reads the list shipped in the assembly.</summary>
    /// <exception cref="PortalStartupException">The list is missing or cannot be read; the message is one line naming <see cref="FileName"/>.</exception>
    public static PasskeyProviders LoadShipped()
    {
        using var stream = typeof(PasskeyProviders).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new PortalStartupException($"The passkey provider list {FileName} is missing from the build (embedded resource {ResourceName}).");
        return Load(stream, FileName);
    }

    /// <summary>
    /// Reads a list in the shape of <c>aaguid.json</c>: one JSON object whose keys are AAGUIDs (<c>8-4-4-4-12</c> hex
    /// digits) and whose values are objects with a <c>name</c> and optionally <c>icon_light</c> and <c>icon_dark</c>;
    /// other members are ignored. An icon is kept only when it is a base64 <c>data:image/...</c> URI of at most
    /// <see cref="MaxIconLength"/> characters; anything else (a web address, another media type, bad base64) is dropped,
    /// so the page never loads anything from outside itself.
    /// </summary>
    /// <param name="json">The file's bytes (UTF-8).</param>
    /// <param name="fileName">The name start-up errors give the file.</param>
    /// <exception cref="PortalStartupException">
    /// The file is not a JSON object, names no provider, has a key that is not an AAGUID, the all-zero AAGUID or one AAGUID
    /// twice, or a provider without a usable name. The message is one line naming <paramref name="fileName"/>.
    /// </exception>
    public static PasskeyProviders Load(Stream json, string fileName)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Malformed(fileName, "it is not a JSON object of AAGUIDs");
            }

            var providers = new Dictionary<Guid, PasskeyProvider>();
            var entry = 0;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                entry++;
                if (!Guid.TryParseExact(property.Name, "D", out var aaguid))
                {
                    throw Malformed(fileName, $"the key of entry {entry} is not an AAGUID");
                }

                if (aaguid == Guid.Empty)
                {
                    throw Malformed(fileName, $"entry {entry} names the all-zero AAGUID, which means \"not disclosed\"");
                }

                if (!providers.TryAdd(aaguid, ReadProvider(property.Value, aaguid, fileName)))
                {
                    throw Malformed(fileName, $"AAGUID {aaguid} is listed twice");
                }
            }

            return providers.Count == 0
                ? throw Malformed(fileName, "it names no provider")
                : new PasskeyProviders(providers.ToFrozenDictionary());
        }
        catch (JsonException exception)
        {
            var where = exception.LineNumber is { } line ? $" (line {line + 1}, byte {exception.BytePositionInLine + 1})" : "";
            throw Malformed(fileName, $"it is not valid JSON{where}", exception);
        }
    }

    /// <summary>
    /// Whether <paramref name="value"/> is an image the page may show as it is: <c>data:image/&lt;subtype&gt;[;parameters];base64,&lt;base64&gt;</c>
    /// (RFC 2397) of at most <see cref="MaxIconLength"/> characters, with a media type of letters, digits and <c>.+-=;</c> only and
    /// well-formed base64 without whitespace.
    /// </summary>
    public static bool IsImageDataUri(string? value)
    {
        if (value is null || value.Length > MaxIconLength || !value.StartsWith(IconPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var marker = value.IndexOf(Base64Marker, StringComparison.OrdinalIgnoreCase);
        if (marker <= IconPrefix.Length)
        {
            return false;
        }

        var mediaType = value.AsSpan(IconPrefix.Length, marker - IconPrefix.Length);
        var payload = value.AsSpan(marker + Base64Marker.Length);
        return !mediaType.ContainsAnyExcept(MediaTypeCharacters)
            && payload.Length > 0 && !payload.ContainsAnyExcept(Base64Characters) && Base64.IsValid(payload);
    }

    private static PasskeyProvider ReadProvider(JsonElement value, Guid aaguid, string fileName)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String)
        {
            throw Malformed(fileName, $"AAGUID {aaguid} has no name");
        }

        // The rules of a passkey's own name: no control or bidi characters that could make it look like another.
        var name = PasskeyName.Normalize(nameElement.GetString(), MaxNameLength);
        if (!name.IsValid)
        {
            throw Malformed(fileName, $"the name of AAGUID {aaguid} is empty, longer than {MaxNameLength} characters or has control characters");
        }

        return new PasskeyProvider(name.Name!, Icon(value, "icon_light"), Icon(value, "icon_dark"));
    }

    private static string? Icon(JsonElement provider, string member) =>
        provider.TryGetProperty(member, out var icon) && icon.ValueKind == JsonValueKind.String && IsImageDataUri(icon.GetString())
            ? icon.GetString()
            : null;

    private static PortalStartupException Malformed(string fileName, string reason, Exception? inner = null) =>
        new($"The passkey provider list {fileName} cannot be read: {reason}. Replace it with the list's aaguid.json.", inner);
}
