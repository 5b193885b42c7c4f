using System.Net;
using Microsoft.AspNetCore.Mvc.Testing.Handlers;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// Many requests at once against a portal on Kestrel: each on a connection of its own, opened beforehand, all
/// started by one gate so that they race in the portal, not in the test.
/// </summary>
public static class Simultaneous
{
    /// <summary>How many requests a race sends: more than any connection or thread pool the portal keeps small.</summary>
    public const int Requests = 24;

    /// <summary>
    /// A client of the portal on Kestrel that does not follow redirects and keeps cookies in <paramref name="cookies"/>
    /// (when given); it opens as many connections as requests run at once.
    /// </summary>
    public static HttpClient Client(PortalAppFactory app, CookieContainer? cookies = null)
    {
        var sockets = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, MaxConnectionsPerServer = 256 };
        HttpMessageHandler handler = cookies is null ? sockets : new CookieContainerHandler(cookies) { InnerHandler = sockets };
        return new HttpClient(handler) { BaseAddress = app.ServerAddress ?? throw new InvalidOperationException("Start the portal on Kestrel first.") };
    }

    /// <summary>
    /// Runs <paramref name="request"/> <paramref name="count"/> times at once. First <paramref name="client"/> opens
    /// <paramref name="count"/> connections (parallel health checks it then keeps); then every request waits at one gate,
    /// which opens for all of them together.
    /// </summary>
    public static async Task<T[]> RunAsync<T>(HttpClient client, int count, Func<int, Task<T>> request)
    {
        ArgumentNullException.ThrowIfNull(client);
        var warm = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => client.GetAsync("/healthz")));
        Assert.All(warm, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        return await RunAsync(count, request);
    }

    /// <summary>
    /// Runs <paramref name="request"/> <paramref name="count"/> times at once, every run waiting at one gate that opens
    /// for all of them together (for requests of clients that each opened their connection already).
    /// </summary>
    public static async Task<T[]> RunAsync<T>(int count, Func<int, Task<T>> request)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var racers = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await request(i);
        })).ToArray();
        gate.SetResult();
        return await Task.WhenAll(racers);
    }
}
