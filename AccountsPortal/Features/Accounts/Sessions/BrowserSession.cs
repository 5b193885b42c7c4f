using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.Sessions;

/// <summary>
/// A signed-in browser. The sign-in cookie holds only this row's key; the ticket itself is kept here,
/// encrypted, so that a browser can be signed out from elsewhere by deleting its row.
/// </summary>
public sealed class BrowserSession
{
    public required string Id { get; set; }

    public required string UserId { get; set; }

    public required byte[] ProtectedTicket { get; set; }

    public string? UserAgent { get; set; }

    /// <summary>The address the browser signed in from (IPv4 or IPv6 text), for the owner's notifications.</summary>
    public string? Ip { get; set; }

    /// <summary>The account's security stamp in the ticket; a session whose stamp is no longer the account's has ended.</summary>
    public string? SecurityStamp { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset LastSeenAt { get; set; }

    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>
    /// When this browser last proved it is the account's owner: the sign-in, or "Confirm it's you". Security
    /// changes need it within <see cref="SecurityOptions.ReauthenticationWindow"/> (<see cref="RecentConfirmation"/>).
    /// </summary>
    public DateTimeOffset? ConfirmedAt { get; set; }
}

internal sealed class BrowserSessionConfiguration : IEntityTypeConfiguration<BrowserSession>
{
    public void Configure(EntityTypeBuilder<BrowserSession> builder)
    {
        builder.Property(session => session.Id).HasMaxLength(64);
        builder.Property(session => session.UserAgent).HasMaxLength(BrowserSessionStore.MaxUserAgentLength);
        builder.Property(session => session.SecurityStamp).HasMaxLength(64);
        builder.Property(session => session.Ip).HasMaxLength(45);
        builder.HasIndex(session => session.UserId);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(session => session.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
