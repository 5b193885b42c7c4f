using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// One login in progress: created when the password step passes, verified by a second factor
/// (or at once when there is none), and consumed when the browser that started it is signed in.
/// </summary>
public sealed class LoginSession
{
    /// <summary>32 random bytes, base64url: the session id that travels in verify links.</summary>
    public required string Id { get; set; }

    public required string UserId { get; set; }

    /// <summary>SHA-256 of the pending-login cookie's secret, which binds the session to the browser that passed the password step.</summary>
    public required byte[] BrowserBindingHash { get; set; }

    public LoginSessionState State { get; set; }

    /// <summary>The second factor this login needs, or null when the account has none.</summary>
    public string? SecondFactor { get; set; }

    public string ReturnUrl { get; set; } = "/";

    /// <summary>The client app that started this login through the API, or null for a login in the portal itself.</summary>
    public string? ClientId { get; set; }

    public int FailedAttempts { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? VerifiedAt { get; set; }

    public DateTimeOffset? ConsumedAt { get; set; }
}

public enum LoginSessionState
{
    /// <summary>The password step passed; a second factor is still needed.</summary>
    AwaitingSecondFactor = 0,

    /// <summary>Every factor passed: the browser holding the pending-login cookie may be signed in.</summary>
    Verified = 1,

    /// <summary>Too many failed second-factor attempts: the session can no longer be used.</summary>
    Failed = 2,
}

internal sealed class LoginSessionConfiguration : IEntityTypeConfiguration<LoginSession>
{
    public void Configure(EntityTypeBuilder<LoginSession> builder)
    {
        builder.Property(session => session.Id).HasMaxLength(64);
        builder.Property(session => session.BrowserBindingHash).HasMaxLength(32);
        builder.Property(session => session.SecondFactor).HasMaxLength(32);
        builder.Property(session => session.ClientId).HasMaxLength(128);
        builder.Property(session => session.ReturnUrl).HasMaxLength(LocalReturnUrl.MaxLength);
        builder.Property(session => session.State).HasConversion<string>().HasMaxLength(32);
        builder.HasIndex(session => session.ExpiresAt);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(session => session.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
