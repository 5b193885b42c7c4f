using System.Security.Cryptography;
using System.Text;
using AccountsPortal.Data;
using AccountsPortal.Features.Passkeys.Providers;

namespace AccountsPortal.Tests.Unit;

public sealed class PasskeyProvidersTests
{
    private const string ApplePasswords = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd";
    private const string Svg = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=";

    private static PasskeyProviders Load(string json) => PasskeyProviders.Load(new MemoryStream(Encoding.UTF8.GetBytes(json)), "test-list.json");

    private static string Entry(string name, string? light = Svg, string? dark = Svg, string aaguid = ApplePasswords) =>
        $$"""{ "{{aaguid}}": { "name": {{System.Text.Json.JsonSerializer.Serialize(name)}}, "icon_light": {{System.Text.Json.JsonSerializer.Serialize(light)}}, "icon_dark": {{System.Text.Json.JsonSerializer.Serialize(dark)}} } }""";

    [Fact]
    public void The_shipped_list_is_the_community_file_with_its_52_providers()
    {
        using (var stream = typeof(PasskeyProviders).Assembly.GetManifestResourceStream(PasskeyProviders.ResourceName)!)
        {
            // aaguid.json of passkeydeveloper/passkey-authenticator-aaguids at 47b6f84 (Providers/README.md), unchanged.
            Assert.Equal("e9b7fe12b7611353cefe90867fdfea9b3a44e23f79870d736542e6e480e29d18", Convert.ToHexStringLower(SHA256.HashData(stream)));
        }

        var providers = PasskeyProviders.LoadShipped();

        Assert.Equal(52, providers.Count);
        var apple = providers.Find(Guid.Parse(ApplePasswords));
        Assert.NotNull(apple);
        Assert.Equal("Apple Passwords", apple.Name);
        Assert.StartsWith("data:image/svg+xml;base64,", apple.LightIcon);
        Assert.StartsWith("data:image/svg+xml;base64,", apple.DarkIcon);
        Assert.Equal(apple.LightIcon, apple.IconFor(darkMode: false));
        Assert.Equal(apple.DarkIcon, apple.IconFor(darkMode: true));
        Assert.Equal("Google Password Manager", providers.Find(Guid.Parse("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"))?.Name);
        // Listed without icons: a name and nothing to show beside it.
        var chromium = providers.Find(Guid.Parse("b5397666-4885-aa6b-cebf-e52262a439a2"));
        Assert.Equal(("Chromium Browser", (string?)null, (string?)null), (chromium?.Name, chromium?.LightIcon, chromium?.DarkIcon));
    }

    [Fact]
    public void The_all_zero_and_unknown_aaguids_have_no_provider()
    {
        var providers = PasskeyProviders.LoadShipped();

        Assert.Null(providers.Find(Guid.Empty));
        Assert.Null(providers.Find(Guid.Parse("01020304-0506-0708-0102-030405060708")));
        Assert.Null(providers.Find(Guid.NewGuid()));
    }

    public static TheoryData<string, string> MalformedLists => new()
    {
        { "", "it is not valid JSON" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": "A" }""", "it is not valid JSON (line 1" },
        { "[]", "it is not a JSON object of AAGUIDs" },
        { "{}", "it names no provider" },
        { """{ "apple": { "name": "Apple" } }""", "the key of entry 1 is not an AAGUID" },
        { """{ "00000000-0000-0000-0000-000000000000": { "name": "Nobody" } }""", "entry 1 names the all-zero AAGUID" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": "A" }, "FBFC3007-154E-4ECC-8C0B-6E020557D7BD": { "name": "B" } }""", "is listed twice" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "Apple" }""", "has no name" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "icon_light": "data:image/png;base64,AAAA" } }""", "has no name" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": 7 } }""", "has no name" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": "  " } }""", "is empty, longer than 64 characters or has control characters" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": "Apple\u202E sdrowssaP" } }""", "has control characters" },
        { """{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": "Apple\nPasswords" } }""", "has control characters" },
    };

    [Theory]
    [MemberData(nameof(MalformedLists))]
    public void A_list_that_cannot_be_read_stops_the_start_with_one_line_naming_the_file(string json, string reason)
    {
        var failure = Assert.Throws<PortalStartupException>(() => Load(json));

        Assert.StartsWith("The passkey provider list test-list.json cannot be read: ", failure.Message);
        Assert.Contains(reason, failure.Message);
        Assert.DoesNotContain('\n', failure.Message);
        Assert.DoesNotContain('\r', failure.Message);
    }

    public static TheoryData<string> IconsThatAreNotImages => new()
    {
        "https://evil.example/logo.png",
        "//evil.example/logo.png",
        "/logo.png",
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
        "data:image/png;base64,",
        "data:image/png;base64,not base64!",
        "data:image/png;base64,AAAA\" onerror=\"alert(1)",
        "data:image/svg+xml\" onerror=\"x;base64,AAAA",
        "data:image/png;base64,AAA",
        " data:image/png;base64,AAAA",
        "data:image/png;base64," + new string('A', PasskeyProviders.MaxIconLength),
    };

    [Theory]
    [MemberData(nameof(IconsThatAreNotImages))]
    public void An_icon_that_is_not_a_base64_image_data_uri_is_dropped_and_the_provider_kept(string icon)
    {
        var providers = Load(Entry("Apple Passwords", light: icon, dark: Svg));

        var provider = providers.Find(Guid.Parse(ApplePasswords));
        Assert.NotNull(provider);
        Assert.Equal("Apple Passwords", provider.Name);
        Assert.Null(provider.LightIcon);
        Assert.Equal(Svg, provider.DarkIcon);
    }

    [Theory]
    [InlineData(Svg)]
    [InlineData("data:image/png;base64,iVBORw0KGgo=")]
    [InlineData("DATA:IMAGE/WEBP;BASE64,UklGRg==")]
    [InlineData("data:image/svg+xml;charset=utf-8;base64,PHN2Zy8+")]
    public void A_base64_image_data_uri_is_kept_as_it_is(string icon)
    {
        var provider = Load(Entry("Apple Passwords", light: icon, dark: icon)).Find(Guid.Parse(ApplePasswords));

        Assert.Equal(icon, provider?.LightIcon);
        Assert.Equal(icon, provider?.DarkIcon);
    }

    [Fact]
    public void Icons_that_are_missing_or_not_strings_are_left_out_and_other_members_ignored()
    {
        var providers = Load("""{ "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": { "name": " Apple Passwords ", "icon_light": 42, "homepage": "https://example.com" } }""");

        var provider = providers.Find(Guid.Parse(ApplePasswords));
        Assert.Equal(new PasskeyProvider("Apple Passwords", null, null), provider);
    }
}
