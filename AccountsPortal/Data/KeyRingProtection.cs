using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.DataProtection;

namespace AccountsPortal.Data;

/// <summary>
/// How the Data Protection key ring is protected at rest. Bound from the "DataProtection" section. The key ring
/// (which encrypts sign-in cookies, session tickets and TOTP secrets) lives in the database; without a certificate
/// its keys are stored there in the clear, so a copy of the database file is enough to read them.
/// </summary>
public sealed class KeyRingOptions
{
    public const string SectionName = "DataProtection";

    /// <summary>
    /// A PKCS#12 (.pfx/.p12) file with an RSA certificate and its private key. New keys are encrypted to it
    /// (XML Encryption, as <c>ProtectKeysWithCertificate</c> does); relative paths are under the content root.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PKCS#12 file's password; keep it in an environment variable or a secret store.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// Certificates that protected keys before the current one: they are only used to read those keys, so a
    /// certificate can be replaced without signing everyone out.
    /// </summary>
    public List<KeyRingCertificate> PreviousCertificates { get; set; } = [];
}

/// <summary>One PKCS#12 file and its password.</summary>
public sealed class KeyRingCertificate
{
    public string Path { get; set; } = "";

    public string? Password { get; set; }
}

/// <summary>
/// Hands <see cref="KeyRingOptions"/>' certificates to Data Protection (<c>ProtectKeysWithCertificate</c>,
/// <c>UnprotectKeysWithAnyCertificate</c>): the current one encrypts new keys, every one of them can decrypt. Read
/// when the portal is built, from its configuration then (appsettings, environment variables); a missing file or a
/// wrong password stops the portal with one clear line. <see cref="Check"/> warns at start-up when nothing protects
/// the key ring outside Development.
/// </summary>
public sealed class KeyRingProtection(bool isProtected, IWebHostEnvironment environment, ILogger<KeyRingProtection> logger)
{
    /// <summary>Whether new keys are encrypted with a certificate.</summary>
    public bool IsProtected => isProtected;

    /// <summary>Configures <paramref name="dataProtection"/> from the builder's configuration and registers this check.</summary>
    /// <exception cref="PortalStartupException">A certificate could not be read or has no RSA private key.</exception>
    public static void Configure(WebApplicationBuilder builder, IDataProtectionBuilder dataProtection)
    {
        var settings = builder.Configuration.GetSection(KeyRingOptions.SectionName).Get<KeyRingOptions>() ?? new KeyRingOptions();
        var (current, all) = Load(settings, builder.Environment.ContentRootPath);
        if (current is not null)
        {
            dataProtection.ProtectKeysWithCertificate(current).UnprotectKeysWithAnyCertificate([.. all]);
        }

        builder.Services.AddSingleton(services => new KeyRingProtection(
            current is not null, services.GetRequiredService<IWebHostEnvironment>(), services.GetRequiredService<ILogger<KeyRingProtection>>()));
    }

    /// <summary>Logs <c>KeyRingUnprotected</c> (event 3004, a warning) when no certificate protects the key ring outside Development.</summary>
    public void Check()
    {
        if (!isProtected && !environment.IsDevelopment())
        {
            DataLog.KeyRingUnprotected(logger);
        }
    }

    private static (X509Certificate2? Current, IReadOnlyList<X509Certificate2> All) Load(KeyRingOptions settings, string contentRoot)
    {
        if (string.IsNullOrWhiteSpace(settings.CertificatePath))
        {
            if (settings.PreviousCertificates.Count > 0)
            {
                throw new PortalStartupException(
                    "DataProtection:PreviousCertificates is set without DataProtection:CertificatePath: name the certificate that protects new keys.");
            }

            return (null, []);
        }

        var current = LoadOne("DataProtection:CertificatePath", settings.CertificatePath, settings.Password, contentRoot);
        var all = new List<X509Certificate2> { current };
        for (var i = 0; i < settings.PreviousCertificates.Count; i++)
        {
            var previous = settings.PreviousCertificates[i];
            all.Add(LoadOne($"DataProtection:PreviousCertificates:{i}:Path", previous.Path, previous.Password, contentRoot));
        }

        return (current, all);
    }

    private static X509Certificate2 LoadOne(string setting, string path, string? password, string contentRoot)
    {
        var fullPath = Path.GetFullPath(path, contentRoot);
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(fullPath, password);
        }
        catch (Exception exception) when (exception is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new PortalStartupException(
                $"{setting} '{fullPath}' could not be read as a PKCS#12 file with the given password ({exception.Message}).", exception);
        }

        using var privateKey = certificate.HasPrivateKey ? certificate.GetRSAPrivateKey() : null;
        if (privateKey is null)
        {
            certificate.Dispose();
            throw new PortalStartupException(
                $"{setting} '{fullPath}' has no RSA private key: the key ring needs one to encrypt and decrypt its keys.");
        }

        return certificate;
    }
}
