using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A client app's loopback redirect URI (<c>http://localhost:PORT/callback</c>, as a desktop app registers one):
/// it listens from the moment it exists, on a port nobody else can take (<see cref="LoopbackPort"/>), answers
/// every request with a short page and hands the requested URLs to the test.
/// </summary>
public sealed class LoopbackCallback : IAsyncDisposable
{
    private readonly LoopbackPort port = LoopbackPort.Reserve();
    private readonly CancellationTokenSource stop = new();
    private readonly Channel<Uri> requests = Channel.CreateUnbounded<Uri>();
    private readonly Task[] loops;

    public LoopbackCallback()
    {
        Address = new Uri($"http://localhost:{port.Port}/callback");
        loops = [.. port.Listen().Select(socket => Task.Run(() => AcceptLoopAsync(socket)))];
    }

    /// <summary>The redirect URI to register for the app.</summary>
    public Uri Address { get; }

    /// <summary>The next URL a browser requested here (path and query, on <see cref="Address"/>'s origin).</summary>
    public async Task<Uri> NextRequestAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        return await requests.Reader.ReadAsync(cancel.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        port.Dispose();
        try
        {
            await Task.WhenAll(loops);
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The loops end with the port.
        }

        stop.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!stop.IsCancellationRequested)
        {
            var connection = await listener.AcceptAsync(stop.Token);
            _ = Task.Run(() => AnswerAsync(connection));
        }
    }

    private async Task AnswerAsync(Socket connection)
    {
        try
        {
            await AnswerRequestAsync(connection);
        }
        catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // A browser that gave up on the connection, or the test ended.
        }
    }

    private async Task AnswerRequestAsync(Socket connection)
    {
        using (connection)
        await using (var stream = new NetworkStream(connection, ownsSocket: false))
        {
            var head = new StringBuilder();
            var buffer = new byte[4096];
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, stop.Token);
                if (read == 0)
                {
                    // A browser's speculative connection that never sent a request.
                    return;
                }

                head.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            // "GET /callback?session=…&code=… HTTP/1.1"
            var target = head.ToString().Split("\r\n")[0].Split(' ')[1];
            var body = "You can close this window."u8.ToArray();
            var response = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(response, stop.Token);
            await stream.WriteAsync(body, stop.Token);
            if (!target.StartsWith("/favicon", StringComparison.Ordinal))
            {
                await requests.Writer.WriteAsync(new Uri(Address, target), stop.Token);
            }
        }
    }
}
