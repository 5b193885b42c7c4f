using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using AccountsPortal.Data;
using AngleSharp.Html.Dom;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using MimeKit;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// The portal as a real child process, <c>dotnet AccountsPortal.dll</c>, as an operator runs it: its own temporary
/// folder (SQLite file, pickup directory for emails, web root), its own port on localhost, configuration by
/// environment variables, "Production" unless a test says otherwise. Its stdout and stderr are kept line by line.
/// <see cref="KillAsync"/> is a SIGKILL of the whole process tree; disposing always kills whatever still runs, so a
/// hung child never outlives its test.
/// </summary>
/// <remarks>
/// The child runs from the test's output folder (the copy of AccountsPortal.dll the tests were built against) with
/// that folder as its content root, so it reads the same appsettings.json. Outside Development ASP.NET Core does not
/// read the build's static web assets manifest (MudBlazor's files and <c>_framework/blazor.web.js</c> live in NuGet
/// packages, not under wwwroot), so the harness lays out a web root the way <c>dotnet publish</c> does, from that
/// manifest, and points the child at it: its pages work in a browser without Development mode.
/// </remarks>
public sealed class PortalProcess : IAsyncDisposable
{
    /// <summary>How long a start may take before the test fails (a busy 2-core machine builds and starts slowly).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    /// <summary>How long a graceful stop may take before the child is killed and the test fails.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(45);

    private const int StartAttempts = 5;

    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("accountsportal-process-");
    private readonly Dictionary<string, string?> settings = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> output = [];
    private readonly List<string> errors = [];
    private readonly Lock gate = new();
    private Process? process;
    private int runs;

    /// <summary>A child portal not started yet; <see cref="With"/> adds settings, <see cref="StartAsync"/> starts it.</summary>
    /// <param name="environment">The value of <c>ASPNETCORE_ENVIRONMENT</c>.</param>
    public PortalProcess(string environment = "Production")
    {
        Environment = environment;
        DatabasePath = Path.Combine(folder.FullName, "data", "portal.db");
        MailDirectory = Path.Combine(folder.FullName, "mail");
        WebRoot = Path.Combine(folder.FullName, "wwwroot");
        settings["Database:SqlitePath"] = DatabasePath;
        settings["Email:PickupDirectory"] = MailDirectory;
        settings["Passkeys:RelyingPartyId"] = "localhost";
        // High enough not to get in the way of tests that log in many times from one address.
        settings["RateLimits:RequestsPerMinutePerIp"] = "100000";
        settings["RateLimits:AttemptsPerMinutePerAccount"] = "100000";
        // As in BrowserFixture: Chromium's virtual authenticator would answer the login page's passkey autofill by
        // itself, turning the password logins of these journeys into passkey sign-ins.
        settings["Passkeys:PasskeySignIn"] = "false";
    }

    /// <summary>The child's <c>ASPNETCORE_ENVIRONMENT</c>.</summary>
    public string Environment { get; }

    /// <summary>The folder that holds everything this child writes; deleted on dispose.</summary>
    public string Folder => folder.FullName;

    /// <summary>The child's SQLite file (<c>Database:SqlitePath</c>).</summary>
    public string DatabasePath { get; }

    /// <summary>Where the child writes its emails (<c>Email:PickupDirectory</c>), one .eml file each.</summary>
    public string MailDirectory { get; }

    /// <summary>The web root laid out for the child (see the remarks on <see cref="PortalProcess"/>).</summary>
    public string WebRoot { get; }

    /// <summary>The port the child listens on; chosen at the first start and kept across restarts.</summary>
    public int Port { get; private set; }

    /// <summary>http://localhost:PORT, the child's address and its one passkey origin.</summary>
    public Uri Origin => new($"http://localhost:{Port}");

    /// <summary>Whether the child process is running.</summary>
    public bool IsRunning
    {
        get
        {
            lock (gate)
            {
                return process is { HasExited: false };
            }
        }
    }

    /// <summary>The operating system's id of the running child (for a profiler to attach to), or null when none runs.</summary>
    public int? ProcessId
    {
        get
        {
            lock (gate)
            {
                return process is { HasExited: false } ? process.Id : null;
            }
        }
    }

    /// <summary>The exit code of the last run, once it ended.</summary>
    public int? ExitCode
    {
        get
        {
            lock (gate)
            {
                return process is { HasExited: true } ? process.ExitCode : null;
            }
        }
    }

    /// <summary>Every stdout line of every run so far.</summary>
    public IReadOnlyList<string> StandardOutput
    {
        get
        {
            lock (gate)
            {
                return [.. output];
            }
        }
    }

    /// <summary>Every stderr line of every run so far.</summary>
    public IReadOnlyList<string> StandardError
    {
        get
        {
            lock (gate)
            {
                return [.. errors];
            }
        }
    }

    /// <summary>
    /// Sets a configuration value for the next start, by its configuration key ("DataProtection:CertificatePath"),
    /// passed as the environment variable with <c>__</c> between sections; null removes it.
    /// </summary>
    public PortalProcess With(string key, string? value)
    {
        settings[key] = value;
        return this;
    }

    /// <summary>Registers <see cref="AppApiClient.ClientId"/> as a client app, as <see cref="AppApiClient.Configure"/> does in memory.</summary>
    public PortalProcess WithTestApp() => this
        .With("Apps:Clients:0:ClientId", AppApiClient.ClientId)
        .With("Apps:Clients:0:Name", AppApiClient.ClientName)
        .With("Apps:Clients:0:RedirectUris:0", AppApiClient.HttpsRedirect)
        .With("Apps:Clients:0:RedirectUris:1", AppApiClient.CustomSchemeRedirect);

    /// <summary>
    /// Starts the child and waits until <c>/healthz</c> answers 200. A port another process took in the meantime
    /// (the child exits with "address already in use") is replaced by another free one at the first start, and
    /// waited for on a restart. Fails the test, with the child's output, when it exits or is not healthy in time.
    /// </summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("The child portal is already running.");
        }

        for (var attempt = 1; ; attempt++)
        {
            if (Port == 0 || (runs == 0 && attempt > 1))
            {
                Port = UnusedPort();
            }

            var outputBefore = StandardOutput.Count + StandardError.Count;
            Launch();
            var healthy = await WaitForHealthAsync();
            if (healthy)
            {
                runs++;
                return;
            }

            var lines = StandardOutput.Concat(StandardError).Skip(outputBefore);
            var portTaken = lines.Any(line => line.Contains("address already in use", StringComparison.OrdinalIgnoreCase));
            if (!portTaken || attempt == StartAttempts)
            {
                throw new InvalidOperationException(
                    $"The child portal exited with code {ExitCode} before it was healthy (attempt {attempt}).{Describe()}");
            }

            if (runs > 0)
            {
                // A restart keeps its port (cookies and passkey origins name it): wait for whoever holds it.
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    /// <summary>
    /// Starts the child for a run that is expected to end by itself (a start-up failure) and returns its exit code;
    /// kills it and fails the test when it is still running after <paramref name="timeout"/>.
    /// </summary>
    public async Task<int> RunToExitAsync(TimeSpan timeout)
    {
        if (Port == 0)
        {
            Port = UnusedPort();
        }

        var child = Launch();
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await child.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new TimeoutException($"The child portal was still running after {timeout}; it was killed.{Describe()}");
        }

        // The no-argument wait also drains the redirected output to its end.
        await child.WaitForExitAsync();
        runs++;
        return child.ExitCode;
    }

    /// <summary>SIGKILL of the child and everything it started, then waits until it is gone: a crash, nothing flushed.</summary>
    public async Task KillAsync()
    {
        Process? child;
        lock (gate)
        {
            child = process;
        }

        if (child is null)
        {
            return;
        }

        try
        {
            child.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It had exited already.
        }

        using var wait = new CancellationTokenSource(StopTimeout);
        await child.WaitForExitAsync(wait.Token);
    }

    /// <summary>
    /// A graceful stop (SIGTERM, as a service manager sends): the host finishes its requests and shuts down. Fails the
    /// test, after killing the child, when it has not exited within <see cref="StopTimeout"/>.
    /// </summary>
    public async Task StopAsync()
    {
        Process? child;
        lock (gate)
        {
            child = process;
        }

        if (child is null || child.HasExited)
        {
            return;
        }

        using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!)
        {
            await term.WaitForExitAsync();
        }

        using var wait = new CancellationTokenSource(StopTimeout);
        try
        {
            await child.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new TimeoutException($"The child portal did not stop within {StopTimeout} of SIGTERM; it was killed.{Describe()}");
        }

        await child.WaitForExitAsync();
    }

    /// <summary>Stops the child gracefully if it still runs, then starts it again: same folder, port and settings.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    /// <summary>An HTTP client for the child that keeps cookies in <paramref name="cookies"/> and does not follow redirects.</summary>
    public HttpClient CreateClient(CookieContainer? cookies = null) =>
        new(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = true,
            CookieContainer = cookies ?? new CookieContainer(),
            // The child is killed and restarted under the same address: never reuse a connection for long.
            PooledConnectionLifetime = TimeSpan.FromSeconds(5),
        })
        {
            BaseAddress = Origin,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>
    /// A context on the child's database: its PostgreSQL database when <c>Database:Provider</c> is Postgres, otherwise
    /// its SQLite file, opened without pooling so that no handle outlives it.
    /// </summary>
    public PortalDbContext OpenDatabase() =>
        string.Equals(settings.GetValueOrDefault("Database:Provider"), "Postgres", StringComparison.OrdinalIgnoreCase)
            ? new PostgresPortalDbContext(new DbContextOptionsBuilder<PostgresPortalDbContext>()
                .UseNpgsql(settings["Database:ConnectionString"])
                .Options)
            : new SqlitePortalDbContext(new DbContextOptionsBuilder<SqlitePortalDbContext>()
                .UseSqlite(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 30 }.ToString())
                .AddInterceptors(new SqliteConnectionPragmas(30_000))
                .Options);

    /// <summary>
    /// Signs up over HTTP as a browser without JavaScript does, enters the code the child emailed, and returns the
    /// page that shows the recovery key. The client keeps the sign-in cookie.
    /// </summary>
    public async Task<IHtmlDocument> SignUpAsync(HttpClient http, string email, string password = PortalScenario.StrongPassword)
    {
        ArgumentNullException.ThrowIfNull(http);
        var signUp = await http.SubmitAsync("/signup", "signup", new Dictionary<string, string>
        {
            ["Input.Email"] = email,
            ["Input.Password"] = password,
            ["Input.ConfirmPassword"] = password,
        });
        Assert.Equal(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, signUp.LocationPath());
        var verified = await http.SubmitAsync(Features.Accounts.EmailAddresses.EmailVerifications.VerifyPath, "verify-email", new Dictionary<string, string>
        {
            ["Input.Code"] = await LatestEmailCodeAsync(email),
        });
        var landed = await FollowAsync(http, verified);
        Assert.Equal(HttpStatusCode.OK, landed.StatusCode);
        return await landed.ReadHtmlAsync();
    }

    /// <summary>Follows redirects by hand and returns the final response.</summary>
    public static async Task<HttpResponseMessage> FollowAsync(HttpClient http, HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(response);
        for (var hops = 0; response.IsRedirect(); hops++)
        {
            Assert.True(hops < 10, "More than 10 redirects.");
            response = await http.GetAsync(response.LocationPath());
        }

        return response;
    }

    /// <summary>The 6-digit code in the newest "verify" email the child wrote to <paramref name="to"/>; waits for it (30 s).</summary>
    public async Task<string> LatestEmailCodeAsync(string to)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var files = Directory.Exists(MailDirectory) ? Directory.GetFiles(MailDirectory, "*.eml").Order(StringComparer.Ordinal).ToList() : [];
            var code = files
                .Select(file => MimeMessage.Load(file))
                .Where(message => message.To.Mailboxes.Any(m => string.Equals(m.Address, to, StringComparison.OrdinalIgnoreCase)))
                .Where(message => message.Subject is "Verify your email address")
                .Select(message => Regex.Match(message.TextBody ?? "", @"Your code is (\d{6})\.").Groups[1].Value)
                .LastOrDefault(value => value.Length == 6);
            if (code is not null)
            {
                return code;
            }

            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"No verification email to {to} in {MailDirectory} within 30 s.{Describe()}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Kills the child if it still runs, then deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        finally
        {
            lock (gate)
            {
                process?.Dispose();
                process = null;
            }

            SqliteConnection.ClearAllPools();
            try
            {
                folder.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A file still open elsewhere; the temp folder is cleaned by the OS.
            }
        }
    }

    private Process Launch()
    {
        var app = typeof(Program).Assembly.Location;
        var contentRoot = Path.GetDirectoryName(app)!;
        if (!Directory.Exists(WebRoot))
        {
            LayOutWebRoot(contentRoot, WebRoot);
        }

        var start = new ProcessStartInfo(DotnetHost(), [app])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = contentRoot,
        };

        // Nothing of the test host's own configuration leaks into the child.
        foreach (var inherited in start.Environment.Keys.Where(key =>
            key.StartsWith("ASPNETCORE_", StringComparison.OrdinalIgnoreCase) || key.Equals("DOTNET_ENVIRONMENT", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(inherited);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = Environment;
        start.Environment["ASPNETCORE_CONTENTROOT"] = contentRoot;
        start.Environment["ASPNETCORE_WEBROOT"] = WebRoot;
        start.Environment["ASPNETCORE_URLS"] = Origin.ToString().TrimEnd('/');
        start.Environment["Passkeys__Origins__0"] = Origin.ToString().TrimEnd('/');
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in settings)
        {
            var name = key.Replace(":", "__", StringComparison.Ordinal);
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var child = new Process { StartInfo = start, EnableRaisingEvents = true };
        child.OutputDataReceived += (_, line) => Keep(output, line.Data);
        child.ErrorDataReceived += (_, line) => Keep(errors, line.Data);
        lock (gate)
        {
            process?.Dispose();
            process = child;
        }

        if (!child.Start())
        {
            throw new InvalidOperationException("The child portal could not be started.");
        }

        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        return child;
    }

    private async Task<bool> WaitForHealthAsync()
    {
        using var http = new HttpClient { BaseAddress = Origin, Timeout = TimeSpan.FromSeconds(10) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < StartTimeout)
        {
            Process child;
            lock (gate)
            {
                child = process!;
            }

            if (child.HasExited)
            {
                // Let the output readers reach the end of what it wrote.
                await child.WaitForExitAsync();
                return false;
            }

            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but not answering yet.
            }

            await Task.Delay(200);
        }

        await KillAsync();
        throw new TimeoutException($"The child portal was not healthy within {StartTimeout}; it was killed.{Describe()}");
    }

    private void Keep(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (gate)
        {
            lines.Add(line);
        }
    }

    /// <summary>The end of the child's output, for failure messages.</summary>
    private string Describe()
    {
        var stdout = StandardOutput;
        var stderr = StandardError;
        return $"{System.Environment.NewLine}--- stderr (last 30 lines) ---{System.Environment.NewLine}{string.Join(System.Environment.NewLine, stderr.TakeLast(30))}"
            + $"{System.Environment.NewLine}--- stdout (last 30 lines) ---{System.Environment.NewLine}{string.Join(System.Environment.NewLine, stdout.TakeLast(30))}";
    }

    private static string DotnetHost() =>
        System.Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    /// <summary>
    /// Lays out a web root as <c>dotnet publish</c> would, from the build's static web assets manifest
    /// (<c>AccountsPortal.staticwebassets.runtime.json</c>, which Development reads directly): every asset it names,
    /// from the project's wwwroot, compressed copies in obj/ and the packages' folders, copied to its request path.
    /// </summary>
    private static void LayOutWebRoot(string appFolder, string webRoot)
    {
        var manifestPath = Path.Combine(appFolder, "AccountsPortal.staticwebassets.runtime.json");
        using var manifest = JsonDocument.Parse(File.ReadAllText(manifestPath));
        var contentRoots = manifest.RootElement.GetProperty("ContentRoots").EnumerateArray().Select(root => root.GetString()!).ToList();
        Directory.CreateDirectory(webRoot);
        CopyNode(manifest.RootElement.GetProperty("Root"), webRoot, contentRoots);
    }

    private static void CopyNode(JsonElement node, string target, IReadOnlyList<string> contentRoots)
    {
        if (node.TryGetProperty("Patterns", out var patterns) && patterns.ValueKind == JsonValueKind.Array)
        {
            foreach (var pattern in patterns.EnumerateArray())
            {
                if (pattern.GetProperty("Pattern").GetString() != "**")
                {
                    throw new NotSupportedException($"Static web assets pattern '{pattern.GetProperty("Pattern").GetString()}' is not laid out by PortalProcess.");
                }

                CopyFolder(contentRoots[pattern.GetProperty("ContentRootIndex").GetInt32()], target);
            }
        }

        if (node.TryGetProperty("Children", out var children) && children.ValueKind == JsonValueKind.Object)
        {
            foreach (var child in children.EnumerateObject())
            {
                var path = Path.Combine(target, child.Name);
                if (child.Value.TryGetProperty("Asset", out var asset) && asset.ValueKind == JsonValueKind.Object)
                {
                    var source = Path.Combine(contentRoots[asset.GetProperty("ContentRootIndex").GetInt32()], asset.GetProperty("SubPath").GetString()!);
                    Directory.CreateDirectory(target);
                    File.Copy(source, path, overwrite: true);
                }

                CopyNode(child.Value, path, contentRoots);
            }
        }
    }

    private static void CopyFolder(string source, string target)
    {
        if (!Directory.Exists(source))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination, overwrite: true);
        }
    }

    /// <summary>
    /// A port nobody listens on now. A child's origin must name its port before it starts, so the port is picked here;
    /// should another process take it before the child binds, <see cref="StartAsync"/> sees "address already in use"
    /// and tries another.
    /// </summary>
    private static int UnusedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
