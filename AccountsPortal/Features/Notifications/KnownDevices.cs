using AccountsPortal.Data;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Activity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Notifications;

/// <summary>
/// Remembers which browsers and apps signed in to an account, and records a <see cref="SecurityEventKind.NewDeviceSignedIn"/>
/// event (which emails the owner) for a sign-in from one not seen before — except the account's very first, its sign-up.
/// One INSERT … ON CONFLICT DO NOTHING decides "new", so parallel sign-ins of one browser tell the owner once.
/// </summary>
public sealed class KnownDevices(PortalDbContext db, SecurityEvents events, ActorContext actors, TimeProvider time)
{
    public const string CookieName = "AccountsPortal.Device";

    /// <summary>How long a browser is remembered without signing in again.</summary>
    public static readonly TimeSpan CookieLifetime = TimeSpan.FromDays(400);

    /// <summary>After a browser sign-in: reads (or gives the browser) its device cookie and remembers it for the account.</summary>
    public async Task BrowserSignedInAsync(HttpContext context, string userId, CancellationToken cancellationToken = default)
    {
        var secret = SecretCookies.Read(context, CookieName);
        if (string.IsNullOrEmpty(secret) || secret.Length > 128)
        {
            secret = SecretTokens.New();
        }

        // Renewed at every sign-in, so a browser in use is never forgotten.
        SecretCookies.Append(context, CookieName, secret, time.GetUtcNow() + CookieLifetime);
        var actor = await actors.DescribeAsync(cancellationToken);
        await RememberAsync(userId, "browser:" + Convert.ToHexStringLower(SecretTokens.Hash(secret)), $"{actor.Device} at {actor.Ip ?? "an unknown address"}", cancellationToken);
    }

    /// <summary>After an app got a token for the account.</summary>
    public async Task AppSignedInAsync(string userId, string clientId, string appName, CancellationToken cancellationToken = default)
    {
        var actor = await actors.DescribeAsync(cancellationToken);
        await RememberAsync(userId, "app:" + clientId, $"{appName} (an app) at {actor.Ip ?? "an unknown address"}", cancellationToken);
    }

    private async Task RememberAsync(string userId, string deviceKey, string description, CancellationToken cancellationToken)
    {
        // Raw SQL: this runs in the write transaction of every sign-in. A device seen before (the usual case) costs the
        // one INSERT that does nothing; only a new one asks whether the account had any other (if not, it is the
        // account's first device and nobody is told). Not composed, so sent as is.
        var now = time.GetUtcNow();
        var inserted = await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO "KnownDevices" ("UserId", "DeviceKey", "FirstSeenAt") VALUES ({userId}, {deviceKey}, {PortalDbContext.StoredInstant(now)}) ON CONFLICT ("UserId", "DeviceKey") DO NOTHING""",
            cancellationToken);
        if (inserted != 1)
        {
            return;
        }

        var others = await db.Database.SqlQuery<bool>(
            $"""SELECT EXISTS (SELECT 1 FROM "KnownDevices" WHERE "UserId" = {userId} AND "DeviceKey" <> {deviceKey}) AS "Value" """).ToListAsync(cancellationToken);
        if (others.Single())
        {
            await events.RecordAsync(userId, SecurityEventKind.NewDeviceSignedIn, description, cancellationToken);
        }
    }
}
