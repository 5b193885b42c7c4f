using System.Data.Common;
using System.Security.Cryptography;
using AccountsPortal.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// The provider's signing and encryption keys, kept in the database so that tokens survive restarts and are valid on every
/// node (<see cref="OidcKey"/>). Each time OpenIddict's options are built, the ring makes sure the current and the next
/// slot have keys (inserted with ON CONFLICT DO NOTHING: nodes never race to two keys), drops keys no token can need any
/// more, and hands OpenIddict the current key first (it signs and encrypts with the first) and the others after it (the
/// next one published ahead of its use, retired ones still accepted). <see cref="OidcKeyRefresher"/> rebuilds the options
/// every <see cref="OidcOptions.KeyRefreshInterval"/>, so a node that runs for months rotates with the others.
/// Keys from certificate files (<see cref="OidcOptions.SigningCertificatePath"/>) replace the database keys of their use.
/// </summary>
public sealed class OidcKeyRing(
    IServiceScopeFactory scopes, IDataProtectionProvider dataProtection, IOptions<OidcOptions> options, TimeProvider time, ILogger<OidcKeyRing> logger)
    : IConfigureOptions<OpenIddictServerOptions>, IOptionsChangeTokenSource<OpenIddictServerOptions>
{
    public const string SigningUse = "sig";
    public const string EncryptionUse = "enc";

    private readonly IDataProtector protector = dataProtection.CreateProtector("AccountsPortal.Oidc.Keys");
    private CancellationTokenSource changes = new();
    private volatile IReadOnlyList<(OidcKey Key, byte[] Material)>? loaded;

    public string? Name => Options.DefaultName;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(changes.Token);

    /// <summary>Makes OpenIddict rebuild its options from the ring last loaded, at its next request (the refresher calls this).</summary>
    public void Refresh()
    {
        var previous = Interlocked.Exchange(ref changes, new CancellationTokenSource());
        previous.Cancel();
        previous.Dispose();
    }

    /// <summary>The rotation slot of an instant: whole <see cref="OidcOptions.KeyRotationInterval"/>s since the Unix epoch.</summary>
    public long SlotOf(DateTimeOffset instant) => (instant - DateTimeOffset.UnixEpoch).Ticks / options.Value.KeyRotationInterval.Ticks;

    public void Configure(OpenIddictServerOptions server)
    {
        var oidc = options.Value;
        var needSigning = string.IsNullOrEmpty(oidc.SigningCertificatePath);
        var needEncryption = string.IsNullOrEmpty(oidc.EncryptionCertificatePath);
        if (!needSigning)
        {
            server.SigningCredentials.Add(new SigningCredentials(
                new X509SecurityKey(LoadCertificate(oidc.SigningCertificatePath!, oidc.SigningCertificatePassword)), SecurityAlgorithms.RsaSha256));
        }

        if (!needEncryption)
        {
            server.EncryptionCredentials.Add(new EncryptingCredentials(
                new X509SecurityKey(LoadCertificate(oidc.EncryptionCertificatePath!, oidc.EncryptionCertificatePassword)),
                SecurityAlgorithms.RsaOAEP, SecurityAlgorithms.Aes256CbcHmacSha512));
        }

        if (!needSigning && !needEncryption)
        {
            return;
        }

        // Loaded at start and by the refresher, never on a request: a database that is busy or down must not stop every
        // request (OpenIddict builds its options on the first request of any kind). The first build before any load
        // (which the start-up load normally precedes) loads here once.
        var keys = loaded ?? LoadAsync(CancellationToken.None).GetAwaiter().GetResult();
        foreach (var (key, material) in keys)
        {
            if (key.Use == SigningUse && needSigning)
            {
                var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(material, out _);
                server.SigningCredentials.Add(new SigningCredentials(new RsaSecurityKey(rsa) { KeyId = key.KeyId }, SecurityAlgorithms.RsaSha256));
            }
            else if (key.Use == EncryptionUse && needEncryption)
            {
                server.EncryptionCredentials.Add(new EncryptingCredentials(
                    new SymmetricSecurityKey(material) { KeyId = key.KeyId }, SecurityAlgorithms.Aes256KW, SecurityAlgorithms.Aes256CbcHmacSha512));
            }
        }
    }

    /// <summary>
    /// Reads the ring from the database and keeps it for the next options build: the keys in use order for each use (the
    /// current slot's, then the next slot's, then retired ones still accepted), each with its decrypted material. Creates the
    /// current and next slot's keys when missing and deletes keys past their acceptance. A key the Data Protection key ring
    /// can no longer decrypt (its certificate was replaced without being listed as previous) is skipped; one of the current
    /// or next slot is replaced by a new key, so the portal signs again (tokens signed with it end, as cookies do).
    /// </summary>
    public async Task<IReadOnlyList<(OidcKey Key, byte[] Material)>> LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var current = SlotOf(now);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();
        List<(OidcKey Key, byte[] Material)> readable = [];
        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var use in new[] { SigningUse, EncryptionUse })
            {
                foreach (var slot in new[] { current, current + 1 })
                {
                    await EnsureAsync(db, use, slot, now, cancellationToken);
                }
            }

            // A key of slot s is accepted until (s + 1) × interval + the longest token lifetime: the slot of (now - that
            // lifetime) is the oldest whose tokens may still be presented.
            var oldestAccepted = SlotOf(now - options.Value.LongestTokenLifetime);
            var dropped = await db.Set<OidcKey>().Where(k => k.Slot < oldestAccepted).ExecuteDeleteAsync(cancellationToken);
            if (dropped > 0)
            {
                OidcLog.KeysRetired(logger, dropped);
            }

            var keys = await db.Set<OidcKey>().AsNoTracking().Where(k => k.Slot <= current + 1).ToListAsync(cancellationToken);
            readable = [];
            var replaced = false;
            foreach (var key in keys.OrderBy(k => k.Slot == current ? 0 : k.Slot > current ? 1 : 2).ThenByDescending(k => k.Slot))
            {
                try
                {
                    readable.Add((key, protector.Unprotect(key.ProtectedMaterial)));
                }
                catch (CryptographicException)
                {
                    OidcLog.KeyUnreadable(logger, key.Use, key.Slot, key.KeyId);
                    if (key.Slot >= current && pass == 0)
                    {
                        await db.Set<OidcKey>().Where(k => k.Id == key.Id).ExecuteDeleteAsync(cancellationToken);
                        replaced = true;
                    }
                }
            }

            if (!replaced)
            {
                break;
            }
        }

        loaded = readable;
        return readable;
    }

    private async Task EnsureAsync(PortalDbContext db, string use, long slot, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await db.Set<OidcKey>().AnyAsync(k => k.Use == use && k.Slot == slot, cancellationToken))
        {
            return;
        }

        byte[] material;
        if (use == SigningUse)
        {
            using var rsa = RSA.Create(2048);
            material = rsa.ExportPkcs8PrivateKey();
        }
        else
        {
            material = RandomNumberGenerator.GetBytes(32);
        }

        var keyId = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        var inserted = await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO "OidcKeys" ("Use", "Slot", "KeyId", "ProtectedMaterial", "CreatedAt") VALUES ({use}, {slot}, {keyId}, {protector.Protect(material)}, {PortalDbContext.StoredInstant(now)}) ON CONFLICT ("Use", "Slot") DO NOTHING""",
            cancellationToken);
        CryptographicOperations.ZeroMemory(material);
        if (inserted == 1)
        {
            OidcLog.KeyCreated(logger, use, slot, keyId);
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(string path, string? password) =>
        System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
            path, password, System.Security.Cryptography.X509Certificates.X509KeyStorageFlags.EphemeralKeySet);
}

/// <summary>
/// Loads the key ring before the portal takes requests, then every <see cref="OidcOptions.KeyRefreshInterval"/> loads it
/// again and has OpenIddict rebuild its options. A load that fails (the database busy or down) keeps the keys loaded
/// before and is tried again at the next interval.
/// </summary>
public sealed class OidcKeyRefresher(OidcKeyRing ring, IOptions<OidcOptions> options, TimeProvider time, ILogger<OidcKeyRefresher> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await ring.LoadAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // One-shot from now, as ExpiredRowsCleanup's wait.
                await Task.Delay(options.Value.KeyRefreshInterval, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
                await ring.LoadAsync(stoppingToken);
                ring.Refresh();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is DbException or InvalidOperationException or TimeoutException)
            {
                OidcLog.KeyRefreshFailed(logger, exception, options.Value.KeyRefreshInterval);
            }
        }
    }
}
