using AccountsPortal.Features.Accounts.LoginSessions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Apps;

/// <summary>
/// The app's side of a login session that an app started through the API: which app, where it may be
/// sent back, the session secret only the app knows, and how the resulting token was handed over.
/// </summary>
public sealed class AppLogin
{
    public required string SessionId { get; set; }

    public required string ClientId { get; set; }

    public string? RedirectUri { get; set; }

    /// <summary>SHA-256 of the secret returned to the app at login; every later API call presents it.</summary>
    public required byte[] SecretHash { get; set; }

    /// <summary>SHA-256 of the one-time code last sent to the redirect URI.</summary>
    public byte[]? CodeHash { get; set; }

    public DateTimeOffset? CodeExpiresAt { get; set; }

    /// <summary>When the token was handed over (by code, poll or the app's own second-factor call).</summary>
    public DateTimeOffset? ClaimedAt { get; set; }

    /// <summary>How many times a polling app collected the token.</summary>
    public int Collections { get; set; }

    /// <summary>The token, encrypted, kept only so a polling app may collect it a second time.</summary>
    public string? ProtectedToken { get; set; }

    public DateTimeOffset? TokenExpiresAt { get; set; }
}

internal sealed class AppLoginConfiguration : IEntityTypeConfiguration<AppLogin>
{
    public void Configure(EntityTypeBuilder<AppLogin> builder)
    {
        builder.HasKey(login => login.SessionId);
        builder.Property(login => login.SessionId).HasMaxLength(64);
        builder.Property(login => login.ClientId).HasMaxLength(128);
        builder.Property(login => login.RedirectUri).HasMaxLength(2048);
        builder.Property(login => login.SecretHash).HasMaxLength(32);
        builder.Property(login => login.CodeHash).HasMaxLength(32);
        builder.Property(login => login.ProtectedToken).HasMaxLength(1024);
        builder.HasOne<LoginSession>().WithOne().HasForeignKey<AppLogin>(login => login.SessionId).OnDelete(DeleteBehavior.Cascade);
    }
}
