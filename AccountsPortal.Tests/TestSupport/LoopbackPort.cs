using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A TCP port on both loopback addresses (127.0.0.1 and ::1, as "localhost" may resolve to either), chosen by
/// the kernel (a bind to port 0) and held by this process from that moment: no other process on the machine can
/// take it between the choice and its use, which a port picked, released and bound again allows.
/// Its sockets are bound but not listening, so a connection to the port is refused until <see cref="Listen"/> is
/// called or a server given <see cref="DuplicateHandles"/> listens on it.
/// </summary>
public sealed class LoopbackPort : IDisposable
{
    private readonly List<Socket> sockets;

    private LoopbackPort(List<Socket> sockets, int port)
    {
        this.sockets = sockets;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Reserves a port free on both loopback addresses (trying again when ::1 has it taken).</summary>
    public static LoopbackPort Reserve()
    {
        for (var attempt = 0; ; attempt++)
        {
            var v4 = Bound(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)v4.LocalEndPoint!).Port;
            if (!Socket.OSSupportsIPv6)
            {
                return new LoopbackPort([v4], port);
            }

            try
            {
                return new LoopbackPort([v4, Bound(AddressFamily.InterNetworkV6, new IPEndPoint(IPAddress.IPv6Loopback, port))], port);
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                // No ::1 on this machine: 127.0.0.1 is all "localhost" can reach.
                return new LoopbackPort([v4], port);
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 50)
            {
                // Another process has this port on ::1 only: let the kernel choose again.
                v4.Dispose();
            }
        }
    }

    /// <summary>Starts listening on the port; returns the listening sockets (one per address) to accept connections from.</summary>
    public IReadOnlyList<Socket> Listen()
    {
        foreach (var socket in sockets)
        {
            socket.Listen(64);
        }

        return sockets;
    }

    /// <summary>
    /// Duplicates of the bound sockets' file descriptors, for a server to listen on (Kestrel's <c>ListenHandle</c>):
    /// the server owns and closes its duplicates; this keeps its own until disposed, after the server.
    /// </summary>
    public IReadOnlyList<ulong> DuplicateHandles()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            throw new PlatformNotSupportedException("Handing a bound socket to Kestrel needs a Unix file descriptor.");
        }

        return [.. sockets.Select(socket =>
        {
            var duplicate = Dup((int)socket.SafeHandle.DangerousGetHandle());
            return duplicate >= 0 ? (ulong)duplicate : throw new SocketException(Marshal.GetLastPInvokeError());
        })];
    }

    public void Dispose()
    {
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }
    }

    private static Socket Bound(AddressFamily family, IPEndPoint endPoint)
    {
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A server that binds the port itself (with SO_REUSEADDR, as netDumbster does) may share it while this is
            // not listening; a process binding it without SO_REUSEADDR is refused.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    [DllImport("libc", EntryPoint = "dup", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Dup(int fileDescriptor);
}
