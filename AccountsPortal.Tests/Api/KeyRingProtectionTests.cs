using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AccountsPortal.Features.Accounts;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Api;

/// <summary>
/// The Data Protection key ring encrypted with an X.509 certificate (<c>DataProtection:CertificatePath</c>), read when
/// the portal is built: so these tests run the portal as a child process configured by environment variables.
/// </summary>
public sealed class KeyRingProtectionTests
{
    private const string KeyRingUnprotectedEvent = "AccountsPortal.Data.KeyRingProtection[3004]";

    [Fact]
    public async Task With_a_certificate_every_stored_key_is_encrypted_and_a_sign_in_survives_a_restart()
    {
        await using var portal = new PortalProcess();
        var certificate = CreateCertificate(portal, "a.pfx", "password-a");
        portal.With("DataProtection:CertificatePath", certificate).With("DataProtection:Password", "password-a");
        await portal.StartAsync();

        var cookies = new CookieContainer();
        using (var browser = portal.CreateClient(cookies))
        {
            await portal.SignUpAsync(browser, PortalScenario.NewEmail());
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/account")).StatusCode);
        }

        await using (var db = portal.OpenDatabase())
        {
            var keys = await db.DataProtectionKeys.AsNoTracking().Select(k => k.Xml).ToListAsync();
            Assert.NotEmpty(keys);
            Assert.All(keys, xml =>
            {
                Assert.Contains("<EncryptedData", xml);
                Assert.DoesNotContain("<masterKey", xml);
            });
        }

        // Production logs JSON lines: no entry is the unprotected-key-ring warning, nor XmlKeyManager's own (event 35).
        var entries = portal.StandardOutput.Where(line => line.Length > 0).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement).ToList();
        Assert.NotEmpty(entries);
        Assert.DoesNotContain(entries, entry => entry.GetProperty("EventId").GetInt32() == 3004);
        Assert.DoesNotContain(entries, entry => entry.GetProperty("Message").GetString()!.Contains("unencrypted", StringComparison.Ordinal));

        await portal.RestartAsync();

        using var after = portal.CreateClient(cookies);
        Assert.Equal(HttpStatusCode.OK, (await after.GetAsync("/account")).StatusCode);
        // The cookie is what signs this browser in: without it the page sends to the login.
        using var stranger = portal.CreateClient();
        Assert.StartsWith(LoginPage.Path, (await stranger.GetAsync("/account")).LocationPath());
    }

    [Theory]
    [InlineData("Production", true)]
    [InlineData("Development", false)]
    public async Task Without_a_certificate_the_start_warns_with_event_3004_outside_development(string environment, bool warns)
    {
        await using var portal = new PortalProcess(environment);

        await portal.StartAsync();

        if (warns)
        {
            // Outside Development the console log is JSON lines: every line one entry, whatever its text.
            var entries = portal.StandardOutput.Where(line => line.Length > 0).Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement).ToList();
            var warning = Assert.Single(entries, entry => entry.GetProperty("EventId").GetInt32() == 3004);
            Assert.Equal("Warning", warning.GetProperty("LogLevel").GetString());
            Assert.Equal("AccountsPortal.Data.KeyRingProtection", warning.GetProperty("Category").GetString());
            Assert.Contains("Set DataProtection:CertificatePath and DataProtection:Password", warning.GetProperty("Message").GetString());
        }
        else
        {
            // Development prints plain lines ("warn: Category[id] message"), and no such warning.
            Assert.DoesNotContain(portal.StandardOutput, line => line.Contains(KeyRingUnprotectedEvent, StringComparison.Ordinal));
            Assert.DoesNotContain(portal.StandardOutput, line => line.Contains("DataProtection:CertificatePath", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_wrong_password_or_a_missing_file_stops_the_start_with_one_line_and_exit_code_1(bool fileExists)
    {
        await using var portal = new PortalProcess();
        var certificate = fileExists ? CreateCertificate(portal, "a.pfx", "password-a") : Path.Combine(portal.Folder, "missing.pfx");
        portal.With("DataProtection:CertificatePath", certificate).With("DataProtection:Password", "not-the-password");

        var exitCode = await portal.RunToExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(1, exitCode);
        var errorLines = portal.StandardError.Where(line => line.Length > 0).ToList();
        var line = Assert.Single(errorLines);
        Assert.StartsWith("AccountsPortal could not start:", line);
        Assert.Contains("DataProtection:CertificatePath", line);
        Assert.Contains(certificate, line);
        Assert.DoesNotContain(portal.StandardOutput.Concat(portal.StandardError), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Keys_written_under_an_earlier_certificate_stay_readable_when_it_is_listed_as_previous()
    {
        await using var portal = new PortalProcess();
        var first = CreateCertificate(portal, "a.pfx", "password-a");
        var second = CreateCertificate(portal, "b.pfx", "password-b");
        portal.With("DataProtection:CertificatePath", first).With("DataProtection:Password", "password-a");
        await portal.StartAsync();
        var cookies = new CookieContainer();
        using (var browser = portal.CreateClient(cookies))
        {
            await portal.SignUpAsync(browser, PortalScenario.NewEmail());
        }

        // Replaced without the earlier certificate: the key that protects the cookie cannot be read.
        await portal.StopAsync();
        portal.With("DataProtection:CertificatePath", second).With("DataProtection:Password", "password-b");
        await portal.StartAsync();
        using (var browser = portal.CreateClient(cookies))
        {
            Assert.StartsWith(LoginPage.Path, (await browser.GetAsync("/account")).LocationPath());
        }

        // Replaced with the earlier one listed as previous: the same cookie opens the account again.
        await portal.StopAsync();
        portal.With("DataProtection:PreviousCertificates:0:Path", first).With("DataProtection:PreviousCertificates:0:Password", "password-a");
        await portal.StartAsync();
        using (var browser = portal.CreateClient(cookies))
        {
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/account")).StatusCode);
        }
    }

    /// <summary>A self-signed RSA certificate with its private key, as a password-protected PKCS#12 file in the portal's folder.</summary>
    private static string CreateCertificate(PortalProcess portal, string fileName, string password)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN=AccountsPortal key ring {fileName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var path = Path.Combine(portal.Folder, fileName);
        File.WriteAllBytes(path, certificate.ExportPkcs12(Pkcs12ExportPbeParameters.Pbes2Aes256Sha256, password));
        return path;
    }
}
