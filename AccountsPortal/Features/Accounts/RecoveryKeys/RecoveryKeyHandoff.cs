using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;

namespace AccountsPortal.Features.Accounts.RecoveryKeys;

/// <summary>
/// Carries a just-issued recovery key across one redirect to the page that shows it (post, redirect,
/// get), so the page is rendered for the signed-in account. The key travels encrypted with Data
/// Protection in a short-lived cookie that the page deletes as it shows the key: shown once.
/// </summary>
public sealed class RecoveryKeyHandoff(IDataProtectionProvider dataProtection, TimeProvider time)
{
    public const string PagePath = "/account/recovery-key/new";
    private const string CookieName = "AccountsPortal.NewRecoveryKey";
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private readonly ITimeLimitedDataProtector protector =
        dataProtection.CreateProtector("AccountsPortal.RecoveryKeyHandoff").ToTimeLimitedDataProtector();

    /// <summary>Stores the key for the next request and returns the page to redirect to.</summary>
    public string Hand(HttpContext context, string userId, IReadOnlyList<string> words, string continueUrl)
    {
        var payload = JsonSerializer.Serialize(new Handoff(userId, [.. words], LocalReturnUrl.Sanitize(continueUrl), time.GetUtcNow()));
        context.Response.Cookies.Append(CookieName, protector.Protect(payload, time.GetUtcNow() + Lifetime), Options(context));
        return PagePath;
    }

    /// <summary>Takes the key handed to this browser for <paramref name="userId"/>, at most once.</summary>
    public Handoff? Take(HttpContext context, string userId)
    {
        var protectedPayload = context.Request.Cookies[CookieName];
        if (protectedPayload is null)
        {
            return null;
        }

        context.Response.Cookies.Delete(CookieName, Options(context));
        try
        {
            var handoff = JsonSerializer.Deserialize<Handoff>(protector.Unprotect(protectedPayload, out _));
            return handoff?.UserId == userId ? handoff : null;
        }
        catch (Exception exception) when (exception is System.Security.Cryptography.CryptographicException or JsonException)
        {
            // Expired, tampered with, or from another key ring: nothing to show.
            return null;
        }
    }

    private static CookieOptions Options(HttpContext context) => new()
    {
        HttpOnly = true,
        Secure = context.Request.IsHttps,
        SameSite = SameSiteMode.Strict,
        IsEssential = true,
        Path = PagePath,
        MaxAge = Lifetime,
    };

    public sealed record Handoff(string UserId, string[] Words, string ContinueUrl, DateTimeOffset IssuedAt);
}
