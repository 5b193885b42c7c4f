using AccountsPortal.Tests.TestSupport;
using BenchmarkDotNet.Attributes;

namespace AccountsPortal.Benchmarks;

/// <summary>
/// The server-side cost of a login's second factor on the real portal and SQLite file: the password
/// step's login session, then a passkey ceremony (options, stored challenge, Fido2NetLib verification,
/// counter update) or an authenticator-app code.
/// </summary>
[MemoryDiagnoser]
public class LoginBenchmarks
{
    private PortalAppFactory app = null!;
    private PasskeyBench passkeys = null!;
    private TotpBench totp = null!;
    private SoftwareAuthenticator authenticator = null!;
    private string passkeyUser = null!;
    private string totpUser = null!;
    private byte[] totpSecret = null!;

    [GlobalSetup]
    public void Setup()
    {
        app = new PortalAppFactory();
        passkeys = new PasskeyBench(app);
        totp = new TotpBench(app);
        authenticator = passkeys.NewAuthenticator();
        passkeyUser = passkeys.CreateUserAsync().GetAwaiter().GetResult();
        passkeys.RegisterAsync(passkeyUser, authenticator).GetAwaiter().GetResult();
        totpUser = passkeys.CreateUserAsync().GetAwaiter().GetResult();
        totpSecret = totp.EnableAsync(totpUser).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "login session + passkey assertion")]
    public async Task<bool> PasskeyLogin()
    {
        var sessionId = await passkeys.StartLoginAsync(passkeyUser);
        return (await passkeys.LogInAsync(sessionId, authenticator)).Succeeded;
    }

    [Benchmark(Description = "login session + TOTP code")]
    public async Task<bool> TotpLogin()
    {
        // Each accepted code uses up its time step: move to the next one first.
        app.Time.Advance(TimeSpan.FromSeconds(30));
        var sessionId = await passkeys.StartLoginAsync(totpUser);
        return (await totp.VerifyAsync(sessionId, totp.CodeAt(totpSecret, TimeSpan.Zero))).Succeeded;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        authenticator.Dispose();
        app.Dispose();
    }
}
