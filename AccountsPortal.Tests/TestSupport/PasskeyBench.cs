using System.Text.Json;
using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Passkeys;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AccountsPortal.Tests.TestSupport;

/// <summary>Drives the portal's passkey services (its real DI and SQLite file) with software authenticators.</summary>
public sealed class PasskeyBench(PortalAppFactory app)
{
    // The pending-login secret of each login this bench started: it plays the browser that passed the password step.
    // Shared by every bench of the test run: login session ids are unique, and tests make benches freely.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> browserSecrets = new();

    public PortalAppFactory App => app;

    public SoftwareAuthenticator NewAuthenticator() => new("localhost", app.Origin);

    public async Task<string> CreateUserAsync() => (await CreateAccountAsync()).UserId;

    public async Task<(string UserId, string Email)> CreateAccountAsync()
    {
        await using var scope = app.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var email = PortalScenario.NewEmail();
        // An established account: its address was verified when it signed up.
        var user = new PortalUser { UserName = email, Email = email, EmailConfirmed = true, CreatedAt = app.Clock.GetUtcNow() };
        var created = await users.CreateAsync(user, PortalScenario.StrongPassword);
        Assert.True(created.Succeeded, string.Join(", ", created.Errors.Select(e => e.Description)));
        return (user.Id, email);
    }

    public async Task<T> WithAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await action(scope.ServiceProvider);
    }

    public Task<CeremonyStart> BeginRegistrationAsync(string userId) =>
        WithAsync(s => s.GetRequiredService<PasskeyRegistration>().BeginAsync(userId));

    /// <summary>Completes a registration from a browser session of the user that signed in (and so confirmed) just now.</summary>
    public async Task<PasskeyOutcome> CompleteRegistrationAsync(string userId, string ceremonyId, string? name, string? credentialJson)
    {
        var session = await SignedInBrowserAsync(userId);
        return await WithAsync(s => s.GetRequiredService<PasskeyRegistration>().CompleteAsync(userId, ceremonyId, name, credentialJson, session));
    }

    /// <summary>
    /// A browser session of the user as a sign-in creates it (the ticket in the session store, with the account's
    /// current security stamp), signed in — and so confirmed — now. Returns its browser session id (the row's id,
    /// which pages and services are given; the cookie's key is not kept).
    /// </summary>
    public Task<string> SignedInBrowserAsync(string userId) => WithAsync(s => SignedInBrowserAsync(s, userId));

    /// <summary>As <see cref="SignedInBrowserAsync(string)"/>, with the services of a scope the caller has.</summary>
    public static async Task<string> SignedInBrowserAsync(IServiceProvider s, string userId)
    {
        var users = s.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.FindByIdAsync(userId) ?? throw new InvalidOperationException("No such user.");
        var principal = await s.GetRequiredService<IUserClaimsPrincipalFactory<PortalUser>>().CreateAsync(user);
        var ticket = new Microsoft.AspNetCore.Authentication.AuthenticationTicket(principal, IdentityConstants.ApplicationScheme);
        var key = await s.GetRequiredService<Features.Accounts.Sessions.BrowserSessionStore>().StoreAsync(ticket, null!, CancellationToken.None);
        return Features.Accounts.Sessions.BrowserSessionStore.SessionIdOf(key);
    }

    /// <summary>Registers a passkey end to end and asserts it worked.</summary>
    public async Task<long> RegisterAsync(string userId, SoftwareAuthenticator authenticator, string name = "Test key")
    {
        var start = await BeginRegistrationAsync(userId);
        Assert.True(start.Succeeded, start.Error);
        var outcome = await CompleteRegistrationAsync(userId, start.CeremonyId!, name, authenticator.CreateCredential(start.OptionsJson!));
        Assert.True(outcome.Succeeded, outcome.Error);
        return outcome.PasskeyId!.Value;
    }

    /// <summary>Passes the password step for the user and returns the login session id.</summary>
    public async Task<string> StartLoginAsync(string userId)
    {
        var login = await WithAsync(s => s.GetRequiredService<LoginSessionService>().StartAsync(userId, null));
        browserSecrets[login.SessionId] = login.BrowserSecret;
        return login.SessionId;
    }

    /// <summary>Plays the holder of a login's binding secret: an app's session secret, say.</summary>
    public void Hold(string sessionId, string secret) => browserSecrets[sessionId] = secret;

    /// <summary>What the browser that started <paramref name="sessionId"/> holds.</summary>
    public LoginProof ProofOf(string sessionId) =>
        new(browserSecrets.TryGetValue(sessionId, out var secret) ? secret : null, null);

    public Task<CeremonyStart> BeginLoginAsync(string sessionId, LoginProof? proof = null) =>
        WithAsync(s => s.GetRequiredService<PasskeyLogin>().BeginAsync(sessionId, proof ?? ProofOf(sessionId)));

    public Task<PasskeyLoginResult> CompleteLoginAsync(string sessionId, string? ceremonyId, string? credentialJson, LoginProof? proof = null) =>
        WithAsync(s => s.GetRequiredService<PasskeyLogin>().CompleteAsync(sessionId, ceremonyId, credentialJson, proof ?? ProofOf(sessionId)));

    /// <summary>Begins a login ceremony and answers it with the authenticator.</summary>
    public async Task<PasskeyLoginResult> LogInAsync(string sessionId, SoftwareAuthenticator authenticator, AssertionOverrides? overrides = null)
    {
        var start = await BeginLoginAsync(sessionId);
        Assert.True(start.Succeeded, start.Error);
        return await CompleteLoginAsync(sessionId, start.CeremonyId, authenticator.GetAssertion(start.OptionsJson!, overrides));
    }

    public Task<List<Passkey>> PasskeysAsync(string userId) =>
        app.WithDbAsync(db => db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).OrderBy(p => p.Id).ToListAsync());

    public Task<LoginSession> SessionAsync(string sessionId) =>
        app.WithDbAsync(db => db.LoginSessions.AsNoTracking().SingleAsync(s => s.Id == sessionId));

    /// <summary>Every passkey of every account, as text, to show that a refused request changed none of them.</summary>
    public Task<string> AllPasskeysSnapshotAsync() =>
        app.WithDbAsync(async db => JsonSerializer.Serialize(await db.Passkeys.AsNoTracking().OrderBy(p => p.Id).ToListAsync()));

    /// <summary>The session as text without its failed-attempt counter, which a refused attempt is meant to raise.</summary>
    /// <param name="withoutState">Leave out its state too: for the refused attempt that reaches the limit and closes it.</param>
    public async Task<string> SessionSnapshotAsync(string sessionId, bool withoutState = false)
    {
        var session = await SessionAsync(sessionId);
        session.FailedAttempts = 0;
        if (withoutState)
        {
            session.State = LoginSessionState.AwaitingSecondFactor;
        }

        return JsonSerializer.Serialize(session);
    }

    /// <summary>
    /// Everything of one account that a refused second-factor attempt must leave as it was, as text: the user row
    /// (password hash, security stamp, email), its recovery key, authenticator app (with the last accepted time
    /// step), passkeys, app tokens and browser sessions. The attempt counters are left out: refusals raise them.
    /// </summary>
    public Task<string> AccountSnapshotAsync(string userId) =>
        app.WithDbAsync(async db => JsonSerializer.Serialize(new
        {
            User = await db.Users.AsNoTracking().SingleAsync(u => u.Id == userId),
            RecoveryKeys = await db.RecoveryKeys.AsNoTracking().Where(k => k.UserId == userId).OrderBy(k => k.Id).ToListAsync(),
            Totp = await db.TotpAuthenticators.AsNoTracking().Where(t => t.UserId == userId).ToListAsync(),
            Passkeys = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId).OrderBy(p => p.Id).ToListAsync(),
            AppTokens = await db.AppTokens.AsNoTracking().Where(t => t.UserId == userId).OrderBy(t => t.Id).ToListAsync(),
            BrowserSessions = await db.BrowserSessions.AsNoTracking().Where(b => b.UserId == userId).OrderBy(b => b.Id).ToListAsync(),
        }));
}
