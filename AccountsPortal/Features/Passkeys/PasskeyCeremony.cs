using AccountsPortal.Features.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// The server-side state of one WebAuthn ceremony, kept in the database so that every node sees it. A registration's row
/// holds the options (and so the challenge) handed to the browser, stored when it begins and consumed exactly once. An
/// assertion's challenge carries its own options (<see cref="PasskeyChallenges"/>): its row is written when it is answered,
/// already consumed, and exists to make that answer the only one (<see cref="PasskeyCeremonies.TryUseAsync"/>).
/// </summary>
public sealed class PasskeyCeremony
{
    public required string Id { get; set; }

    public CeremonyPurpose Purpose { get; set; }

    /// <summary>The account the ceremony is for; null for a passkey sign-in, where the passkey names the account.</summary>
    public string? UserId { get; set; }

    /// <summary>
    /// What the challenge is bound to: the login session (login), the browser session ("Confirm it's you"), or for a
    /// passkey sign-in the client app that asked (<c>app:</c> and its client id), null for the portal's own login page.
    /// </summary>
    public string? LoginSessionId { get; set; }

    /// <summary>A registration's options; empty for an assertion's use (its options are in its challenge).</summary>
    public required string OptionsJson { get; set; }

    /// <summary>A registration's challenge, base64url; for an assertion's use, the challenge's SHA-256 (as <see cref="Id"/>).</summary>
    public required string Challenge { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? ConsumedAt { get; set; }
}

public enum CeremonyPurpose
{
    Registration = 0,
    Login = 1,

    /// <summary>"Confirm it's you" before a security change; bound to the browser session.</summary>
    Confirmation = 2,

    /// <summary>
    /// Sign in with a passkey alone (discoverable credential, user verification required): no account is known until
    /// the passkey's user handle names it.
    /// </summary>
    SignIn = 3,
}

internal sealed class PasskeyCeremonyConfiguration : IEntityTypeConfiguration<PasskeyCeremony>
{
    public void Configure(EntityTypeBuilder<PasskeyCeremony> builder)
    {
        builder.Property(ceremony => ceremony.Id).HasMaxLength(64);
        builder.Property(ceremony => ceremony.Purpose).HasConversion<string>().HasMaxLength(16);
        builder.Property(ceremony => ceremony.LoginSessionId).HasMaxLength(64);
        builder.Property(ceremony => ceremony.Challenge).HasMaxLength(128);
        builder.HasIndex(ceremony => ceremony.ExpiresAt);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(ceremony => ceremony.UserId).IsRequired(false).OnDelete(DeleteBehavior.Cascade);
    }
}
