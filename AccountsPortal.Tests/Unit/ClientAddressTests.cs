using System.Net;
using AccountsPortal.Features.Accounts.Attempts;

namespace AccountsPortal.Tests.Unit;

public sealed class ClientAddressTests
{
    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::/64")]
    [InlineData("::1", "::/64")]
    public void Ipv4_addresses_count_alone_and_ipv6_addresses_by_their_64_bit_prefix(string address, string expected) =>
        Assert.Equal(expected, ClientAddress.PartitionKey(IPAddress.Parse(address)));

    [Fact]
    public void Every_address_of_one_ipv6_64_shares_one_per_ip_budget_and_another_64_has_its_own()
    {
        using var limiter = new IpRateLimiter(Microsoft.Extensions.Options.Options.Create(new RateLimitOptions { RequestsPerMinutePerIp = 5 }));

        var sameSubnet = Enumerable.Range(1, 6).Select(i => limiter.TryAcquire(IPAddress.Parse($"2001:db8:1:2::{i:x}"))).ToList();
        var otherSubnet = limiter.TryAcquire(IPAddress.Parse("2001:db8:1:3::1"));

        Assert.All(sameSubnet.Take(5), wait => Assert.Null(wait));
        Assert.NotNull(sameSubnet[5]);
        Assert.Null(otherSubnet);
    }
}
