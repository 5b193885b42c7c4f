using System.Security.Cryptography;
using AccountsPortal.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OtpNet;
using AccountsPortal.Features.Accounts;

namespace AccountsPortal.Features.TwoFactor;

/// <summary>
/// Turns an authenticator app on, off, or over to a new secret for a signed-in account. Each is a security
/// change: it needs the browser's recent confirmation (<see cref="Accounts.Sessions.RecentConfirmation"/>).
/// </summary>
public sealed class TotpSetup(
    PortalDbContext db,
    TotpSecrets secrets,
    Accounts.Sessions.RecentConfirmation confirmation,
    AccountSecurity accountSecurity,
    TimeProvider time,
    IOptions<TwoFactorOptions> options,
    Activity.SecurityEvents events,
    ILogger<TotpSetup> logger)
{
    public Task<bool> IsEnabledAsync(string userId, CancellationToken cancellationToken = default) =>
        db.TotpAuthenticators.AnyAsync(t => t.UserId == userId, cancellationToken);

    /// <summary>A fresh secret to show as a QR code (of its otpauth:// URI) and as text; nothing is stored until a code confirms it.</summary>
    public TotpEnrollment NewEnrollment(string accountName)
    {
        var secret = RandomNumberGenerator.GetBytes(TotpSecrets.SecretLength);
        var base32 = Base32Encoding.ToString(secret);
        var uri = new OtpUri(OtpType.Totp, base32, accountName, options.Value.Issuer, OtpHashMode.Sha1, TotpCode.Digits, period: 30).ToString();
        return new TotpEnrollment(base32, uri);
    }

    /// <summary>Stores the secret once a code from the app proves it was scanned; that code's step is used up.</summary>
    /// <param name="keepBrowserSessionId">
    /// The browser making the change, which must have confirmed it's the owner recently; it stays signed in
    /// while every other session and app token ends.
    /// </param>
    public async Task<string?> ConfirmAsync(
        string userId, string secretBase32, string? code, bool replaceExisting, string? keepBrowserSessionId, CancellationToken cancellationToken = default)
    {
        var normalized = TotpCode.Normalize(code);
        if (normalized is null)
        {
            return TwoFactorMessages.CodeFormat;
        }

        if (!await confirmation.IsFreshAsync(userId, keepBrowserSessionId, cancellationToken))
        {
            return Accounts.Sessions.RecentConfirmation.Required;
        }

        var secret = Base32Encoding.ToBytes(secretBase32);
        var step = TotpSecrets.MatchingStep(secret, normalized, time.GetUtcNow());
        if (step is null)
        {
            return TwoFactorMessages.WrongCode;
        }

        // Locked first: tabs turning the app on at once are taken one at a time, and only the first stores its secret.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.LockAccountAsync(userId, cancellationToken);
        var existing = await db.TotpAuthenticators.SingleOrDefaultAsync(t => t.UserId == userId, cancellationToken);
        if (existing is not null && !replaceExisting)
        {
            return "An authenticator app is already set up. Reconfigure it instead.";
        }

        if (existing is null)
        {
            existing = new TotpAuthenticator { UserId = userId, ProtectedSecret = "" };
            db.TotpAuthenticators.Add(existing);
        }

        existing.ProtectedSecret = secrets.Protect(secret);
        existing.LastAcceptedStep = step.Value;
        existing.EnabledAt = time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        await events.RecordAsync(userId, replaceExisting ? Activity.SecurityEventKind.AuthenticatorAppReconfigured : Activity.SecurityEventKind.AuthenticatorAppEnabled, cancellationToken: cancellationToken);
        await accountSecurity.RotateAsync(userId, keepBrowserSessionId, replaceExisting ? "authenticator app replaced" : "authenticator app turned on", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.TotpEnabled(logger, replaceExisting ? "reconfigured" : "enabled", userId);
        return null;
    }

    /// <param name="keepBrowserSessionId">
    /// The browser making the change, which must have confirmed it's the owner recently (the recovery key
    /// counts); it stays signed in while every other session and app token ends.
    /// </param>
    public async Task<string?> DisableAsync(string userId, string? keepBrowserSessionId, CancellationToken cancellationToken = default)
    {
        if (!await confirmation.IsFreshAsync(userId, keepBrowserSessionId, cancellationToken))
        {
            return Accounts.Sessions.RecentConfirmation.Required;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.TotpAuthenticators.Where(t => t.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        await events.RecordAsync(userId, Activity.SecurityEventKind.AuthenticatorAppDisabled, cancellationToken: cancellationToken);
        await accountSecurity.RotateAsync(userId, keepBrowserSessionId, "authenticator app turned off", cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.TotpDisabled(logger, userId);
        return null;
    }
}

public sealed record TotpEnrollment(string SecretBase32, string OtpAuthUri)
{
    /// <summary>The secret in groups of four for reading aloud or typing.</summary>
    public string GroupedSecret => string.Join(' ', SecretBase32.Chunk(4).Select(group => new string(group)));
}
