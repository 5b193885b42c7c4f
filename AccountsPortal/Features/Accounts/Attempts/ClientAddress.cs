using System.Net;
using System.Net.Sockets;

namespace AccountsPortal.Features.Accounts.Attempts;

/// <summary>Whom a per-IP rate limit counts: one caller per IPv4 address, and per IPv6 /64.</summary>
public static class ClientAddress
{
    /// <summary>
    /// The key a per-IP limit counts <paramref name="address"/> under: an IPv4 address (also when written as an
    /// IPv4-mapped IPv6 address) as it is; an IPv6 address by its first 64 bits, since one subscriber is routinely given a
    /// whole /64 (RFC 6177) and could otherwise take a fresh budget from each of its 2^64 addresses. Null gives
    /// <c>"unknown"</c>.
    /// </summary>
    public static string PartitionKey(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }
}
