using AccountsPortal.Features.Email;
using AccountsPortal.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.Email;

public sealed class EmailLinksTests
{
    [Fact]
    public void Links_use_the_configured_public_base_url_with_its_path()
    {
        using var bench = new EmailBench().WithSetting("Email:PublicBaseUrl", "https://accounts.example.com/portal/");
        var links = bench.App.Services.GetRequiredService<EmailLinks>();

        Assert.Equal(new Uri("https://accounts.example.com/portal/account/activity?from=email"), links.Absolute("/account/activity?from=email"));
        Assert.Equal("https://accounts.example.com/portal/", links.Absolute("/").AbsoluteUri);
    }

    [Fact]
    public void Without_a_public_base_url_links_use_the_first_passkey_origin()
    {
        using var bench = new EmailBench()
            .WithSetting("Passkeys:Origins:0", "https://accounts.example.com")
            .WithSetting("Passkeys:Origins:1", "https://other.example.com");
        var links = bench.App.Services.GetRequiredService<EmailLinks>();

        Assert.Equal(new Uri("https://accounts.example.com/passkeys"), links.Absolute("/passkeys"));
    }

    [Fact]
    public async Task A_request_host_header_never_changes_links()
    {
        using var bench = new EmailBench().WithSetting("Email:PublicBaseUrl", "https://accounts.example.com");
        using var client = bench.App.CreatePortalClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        request.Headers.Host = "evil.example";
        using var response = await client.SendAsync(request);

        // The links know configuration only: nothing of a request can reach them.
        var parameters = typeof(EmailLinks).GetConstructors().SelectMany(c => c.GetParameters()).Select(p => p.ParameterType).ToList();
        Assert.DoesNotContain(parameters, type => type == typeof(IHttpContextAccessor) || type == typeof(HttpContext) || type == typeof(HttpRequest));
        Assert.Equal(new Uri("https://accounts.example.com/account"), bench.App.Services.GetRequiredService<EmailLinks>().Absolute("/account"));
    }

    [Theory]
    [InlineData("account/activity")]
    [InlineData("")]
    [InlineData("//evil.example/account")]
    [InlineData("/\\evil.example/account")]
    [InlineData("https://evil.example/account")]
    [InlineData("/account activity")]
    [InlineData("/account\r\nX: y")]
    public void Only_local_paths_make_links(string path)
    {
        using var bench = new EmailBench();
        var links = bench.App.Services.GetRequiredService<EmailLinks>();

        Assert.Throws<ArgumentException>(() => links.Absolute(path));
    }

    [Fact]
    public void A_template_refuses_a_link_that_is_not_absolute_http()
    {
        using var bench = new EmailBench();
        var template = bench.App.Services.GetRequiredService<EmailTemplate>();

        Assert.Throws<ArgumentException>(() => template.Create("kate@example.com", "Hi", ["Text"], new EmailAction("Go", new Uri("/account", UriKind.Relative))));
        Assert.Throws<ArgumentException>(() => template.Create("kate@example.com", "Hi", ["Text"], new EmailAction("Go", new Uri("javascript:alert(1)"))));
        Assert.Throws<ArgumentException>(() => template.Create("kate@example.com", "Hi", []));
    }
}
