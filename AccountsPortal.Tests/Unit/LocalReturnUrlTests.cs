using AccountsPortal.Features.Accounts;

namespace AccountsPortal.Tests.Unit;

public sealed class LocalReturnUrlTests
{
    [Theory]
    [InlineData("/account")]
    [InlineData("/passkeys?notice=1")]
    [InlineData("/")]
    public void Keeps_local_paths(string url) => Assert.Equal(url, LocalReturnUrl.Sanitize(url));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("//evil.example")]
    [InlineData("/\\evil.example")]
    [InlineData("https://evil.example")]
    [InlineData("http:evil.example")]
    [InlineData("evil.example")]
    [InlineData("/\t/evil.example")]
    [InlineData("/account\\..\\\\evil.example")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/\u00e9t\u00e9")]
    [InlineData("/a\u202Eb")]
    [InlineData("/\U0001F600")]
    public void Replaces_anything_that_could_leave_the_site(string? url) =>
        Assert.Equal("/account", LocalReturnUrl.Sanitize(url));

    [Fact]
    public void Replaces_over_long_urls() =>
        Assert.Equal("/account", LocalReturnUrl.Sanitize("/" + new string('a', LocalReturnUrl.MaxLength)));
}
