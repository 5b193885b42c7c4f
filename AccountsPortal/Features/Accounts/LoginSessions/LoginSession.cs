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

    /// <summary>The number (10–99) the signing-in device shows; another device must pick it before it may verify.</summary>
    public int ApprovalNumber { get; set; }

    /// <summary>The three numbers another device chooses from, in the order shown (the right one and two decoys).</summary>
    public string ApprovalChoices { get; set; } = "";

    /// <summary>SHA-256 of the secret handed to the one device that picked the right number; null until then.</summary>
    public byte[]? ApprovalHash { get; set; }

    public DateTimeOffset? ApprovedAt { get; set; }

    /// <summary>The IP address the password step came from, shown to the device asked to approve.</summary>
    public string? RequestIp { get; set; }

    /// <summary>The User-Agent of the password step (at most 256 characters), shown as "Chrome on Linux".</summary>
    public string? RequestUserAgent { get; set; }

    /// <summary>
    /// The account's security stamp when the password step passed. Every change to the account's factors
    /// rotates the stamp, so a login verified against factors that have since changed cannot complete.
    /// </summary>
    public string? SecurityStamp { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? VerifiedAt { get; set; }

    /// <summary>
    /// How the login was verified, RFC 8176 values separated by spaces (<see cref="AuthenticationMethods"/>), e.g.
    /// "pwd hwk mfa"; null until verified. At most 64 characters.
    /// </summary>
    public string? AuthenticationMethods { get; set; }

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

    /// <summary>Another device asked to approve it picked a wrong number or said "This wasn't me".</summary>
    Refused = 3,
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
        builder.Property(session => session.ApprovalChoices).HasMaxLength(16);
        builder.Property(session => session.ApprovalHash).HasMaxLength(32);
        builder.Property(session => session.RequestIp).HasMaxLength(64);
        builder.Property(session => session.RequestUserAgent).HasMaxLength(LoginRequester.MaxUserAgentLength);
        builder.Property(session => session.SecurityStamp).HasMaxLength(64);
        builder.Property(session => session.AuthenticationMethods).HasMaxLength(64);
        builder.HasIndex(session => session.ExpiresAt);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(session => session.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
