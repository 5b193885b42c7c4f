using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.TwoFactor;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Unit;

/// <summary>The TOTP rules on SQLite.</summary>
public sealed class SqliteTotpLoginTests(PortalAppFactory app) : TotpLoginTests(app), IClassFixture<PortalAppFactory>;

/// <summary>The TOTP rules on PostgreSQL.</summary>
public sealed class PostgresTotpLoginTests(PostgresPortalAppFactory app) : TotpLoginTests(app), IClassFixture<PostgresPortalAppFactory>;

/// <summary>The TOTP rules on the real database, with the portal's clock moved by hand.</summary>
public abstract class TotpLoginTests(PortalAppFactory app)
{
    private readonly TotpBench bench = new(app);

    private async Task<(string UserId, byte[] Secret)> UserWithTotpAsync()
    {
        var userId = await bench.Passkeys.CreateUserAsync();
        return (userId, await bench.EnableAsync(userId));
    }

    private Task<int> FailedAttemptsAsync(string userId) => bench.FailuresAsync(userId);

    private async Task<int> SessionFailuresAsync(string sessionId) => (await bench.Passkeys.SessionAsync(sessionId)).FailedAttempts;

    /// <summary>The account and the login session (its failed-attempt counter aside): what a refused code must leave as it was.</summary>
    private async Task<string> SnapshotAsync(string userId, string sessionId) =>
        await bench.Passkeys.AccountSnapshotAsync(userId) + await bench.Passkeys.SessionSnapshotAsync(sessionId);

    [Theory]
    [InlineData(-30)]
    [InlineData(0)]
    [InlineData(30)]
    public async Task Codes_one_step_either_side_are_accepted(int offsetSeconds)
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(90)); // past the step the setup code used
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);

        var result = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.FromSeconds(offsetSeconds)));

        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(LoginSessionState.Verified, (await bench.Passkeys.SessionAsync(sessionId)).State);
    }

    [Theory]
    [InlineData(-60)]
    [InlineData(60)]
    public async Task Codes_two_steps_away_are_refused(int offsetSeconds)
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(90));
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        var before = await SnapshotAsync(userId, sessionId);

        var result = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.FromSeconds(offsetSeconds)));

        Assert.Equal(TwoFactorMessages.WrongCode, result.Error);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.Passkeys.SessionAsync(sessionId)).State);
        Assert.Equal(1, await FailedAttemptsAsync(userId));
        Assert.Equal(1, await SessionFailuresAsync(sessionId));
        Assert.Equal(before, await SnapshotAsync(userId, sessionId));
    }

    [Fact]
    public async Task The_setup_code_cannot_be_used_to_log_in()
    {
        var (userId, secret) = await UserWithTotpAsync();
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        var before = await SnapshotAsync(userId, sessionId);

        var reused = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.Zero));
        Assert.Equal(TwoFactorMessages.UsedCode, reused.Error);
        // A used code is a failed attempt like a wrong one; it leaves the authenticator's last step where it was.
        Assert.Equal(1, await SessionFailuresAsync(sessionId));
        Assert.Equal(before, await SnapshotAsync(userId, sessionId));

        app.Time.Advance(TimeSpan.FromSeconds(30));
        var next = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.Zero));

        Assert.True(next.Succeeded, next.Error);
    }

    [Fact]
    public async Task A_code_is_accepted_once_per_account_across_login_sessions()
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var code = bench.CodeAt(secret, TimeSpan.Zero);
        var first = await bench.Passkeys.StartLoginAsync(userId);
        var second = await bench.Passkeys.StartLoginAsync(userId);

        Assert.True((await bench.VerifyAsync(first, code)).Succeeded);
        Assert.Equal(TwoFactorMessages.UsedCode, (await bench.VerifyAsync(second, code)).Error);
        // An older step is not accepted after a newer one either.
        Assert.Equal(TwoFactorMessages.UsedCode, (await bench.VerifyAsync(second, bench.CodeAt(secret, TimeSpan.FromSeconds(-30)))).Error);
    }

    [Theory]
    [InlineData("{0} {1}", true)]
    [InlineData("{0}-{1}", true)]
    [InlineData("  {0}{1}  ", true)]
    [InlineData("fullwidth", true)]
    [InlineData("{0}{1}7", false)]
    [InlineData("{0}", false)]
    [InlineData("{0}ab", false)]
    [InlineData("", false)]
    public async Task Codes_are_normalised_before_anything_else(string shape, bool wellFormed)
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        var before = await SnapshotAsync(userId, sessionId);
        var code = bench.CodeAt(secret, TimeSpan.Zero);
        var typed = shape == "fullwidth"
            ? string.Concat(code.Select(c => (char)(c - '0' + '\uFF10')))
            : string.Format(System.Globalization.CultureInfo.InvariantCulture, shape, code[..3], code[3..]);

        var result = await bench.VerifyAsync(sessionId, typed);

        if (wellFormed)
        {
            Assert.True(result.Succeeded, result.Error);
        }
        else
        {
            // Not a guess: counted nowhere, changes nothing.
            Assert.Equal(TwoFactorMessages.CodeFormat, result.Error);
            Assert.Equal(0, await FailedAttemptsAsync(userId));
            Assert.Equal(0, await SessionFailuresAsync(sessionId));
            Assert.Equal(before, await SnapshotAsync(userId, sessionId));
        }
    }

    [Fact]
    public async Task A_passkey_user_cannot_log_in_with_a_valid_code()
    {
        var (userId, secret) = await UserWithTotpAsync();
        using var authenticator = bench.Passkeys.NewAuthenticator();
        await bench.Passkeys.RegisterAsync(userId, authenticator);
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        var before = await SnapshotAsync(userId, sessionId);

        var result = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.Zero));

        Assert.Equal(TwoFactorMessages.PasskeyRequired, result.Error);
        Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.Passkeys.SessionAsync(sessionId)).State);
        // The code was never looked at: its time step is not used up, and nothing was counted.
        Assert.Equal(before, await SnapshotAsync(userId, sessionId));
        Assert.Equal(0, await SessionFailuresAsync(sessionId));
        Assert.Equal(0, await FailedAttemptsAsync(userId));
    }

    [Fact]
    public async Task Wrong_codes_close_the_login_session_at_its_limit_and_change_nothing_else()
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        var before = await SnapshotAsync(userId, sessionId);
        var wrong = bench.WrongCode(secret);

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            var refused = await bench.VerifyAsync(sessionId, wrong);
            Assert.Equal(TwoFactorMessages.WrongCode, refused.Error);
            Assert.False(refused.SessionClosed);
            Assert.Equal(attempt, await SessionFailuresAsync(sessionId));
            Assert.Equal(LoginSessionState.AwaitingSecondFactor, (await bench.Passkeys.SessionAsync(sessionId)).State);
        }

        // The fifth (LoginSessions:MaxFailedAttempts) closes the login, as a fifth refused passkey would.
        var last = await bench.VerifyAsync(sessionId, wrong);

        Assert.Equal(TwoFactorMessages.TooManyAttempts, last.Error);
        Assert.Equal(SecondFactorFailure.TooManyAttempts, last.Failure);
        Assert.True(last.SessionClosed);
        var closed = await bench.Passkeys.SessionAsync(sessionId);
        Assert.Equal(LoginSessionState.Failed, closed.State);
        Assert.Equal(5, closed.FailedAttempts);
        Assert.Equal(before, await bench.Passkeys.AccountSnapshotAsync(userId) + await bench.Passkeys.SessionSnapshotAsync(sessionId, withoutState: true));
        // The right code no longer helps this login; the account's own lockout (10) is not reached, so a new login works.
        Assert.Equal(SecondFactorFailure.SessionGone, (await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.Zero))).Failure);
        Assert.Equal(5, await FailedAttemptsAsync(userId));
        var again = await bench.Passkeys.StartLoginAsync(userId);
        Assert.True((await bench.VerifyAsync(again, bench.CodeAt(secret, TimeSpan.Zero))).Succeeded);
    }

    [Fact]
    public async Task A_passkey_added_during_a_totp_login_takes_precedence()
    {
        var (userId, secret) = await UserWithTotpAsync();
        app.Time.Advance(TimeSpan.FromSeconds(60));
        var sessionId = await bench.Passkeys.StartLoginAsync(userId);
        Assert.Equal(TotpSecondFactor.FactorName, (await bench.Passkeys.SessionAsync(sessionId)).SecondFactor);
        using var authenticator = bench.Passkeys.NewAuthenticator();
        await bench.Passkeys.RegisterAsync(userId, authenticator);

        var result = await bench.VerifyAsync(sessionId, bench.CodeAt(secret, TimeSpan.Zero));

        Assert.Equal(TwoFactorMessages.PasskeyRequired, result.Error);
    }

    [Fact]
    public async Task Enabling_needs_a_correct_code_and_stores_the_secret_encrypted()
    {
        var userId = await bench.Passkeys.CreateUserAsync();
        var setup = await bench.Passkeys.WithAsync(s => Task.FromResult(
            Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<TotpSetup>(s).NewEnrollment("a@example.test")));
        var secret = OtpNet.Base32Encoding.ToBytes(setup.SecretBase32);
        Assert.StartsWith("otpauth://totp/", setup.OtpAuthUri);
        Assert.Contains("issuer=AccountsPortal", setup.OtpAuthUri);
        Assert.Contains("digits=6", setup.OtpAuthUri);
        Assert.Contains("period=30", setup.OtpAuthUri);

        var browser = await bench.Passkeys.SignedInBrowserAsync(userId);
        var wrong = await bench.Passkeys.WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<TotpSetup>(s).ConfirmAsync(userId, setup.SecretBase32, bench.CodeAt(secret, TimeSpan.FromMinutes(5)), false, browser));
        Assert.Equal(TwoFactorMessages.WrongCode, wrong);
        Assert.Equal(0, await app.WithDbAsync(db => db.TotpAuthenticators.CountAsync(t => t.UserId == userId)));

        var right = await bench.Passkeys.WithAsync(s => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<TotpSetup>(s).ConfirmAsync(userId, setup.SecretBase32, bench.CodeAt(secret, TimeSpan.Zero), false, browser));
        Assert.Null(right);
        var stored = await app.WithDbAsync(db => db.TotpAuthenticators.SingleAsync(t => t.UserId == userId));
        Assert.DoesNotContain(setup.SecretBase32, stored.ProtectedSecret);
        Assert.DoesNotContain(Convert.ToBase64String(secret), stored.ProtectedSecret);
    }
}
