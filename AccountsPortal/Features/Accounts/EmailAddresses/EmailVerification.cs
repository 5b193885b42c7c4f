using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Accounts.EmailAddresses;

/// <summary>Why a code was emailed.</summary>
public enum EmailVerificationPurpose
{
    /// <summary>A new account's address, before it may sign in, add factors or get its recovery key.</summary>
    SignUp = 0,

    /// <summary>An unverified account signing in: the code is asked for after the password.</summary>
    SignIn = 1,

    /// <summary>A new address for a signed-in account: stored only once the code from it is entered.</summary>
    ChangeEmail = 2,
}

/// <summary>
/// One emailed 6-digit code, bound to the browser that asked for it by a cookie whose hash is this row's key.
/// A sign-up with an address that already has an account gets a row too, with no user: its page and answers are
/// the same as a real one's, and no code ever matches it (the real owner is emailed instead).
/// </summary>
public sealed class EmailVerification
{
    /// <summary>The SHA-256 (base64url) of the browser's cookie secret.</summary>
    public required string Id { get; set; }

    /// <summary>The account, or null for a sign-up with an address that already has one.</summary>
    public string? UserId { get; set; }

    public EmailVerificationPurpose Purpose { get; set; }

    /// <summary>
    /// The address the code was sent to, as typed. For a taken address at sign-up, shown as typed too (its stored
    /// case would tell it is taken) while the note goes to the address the account stores.
    /// </summary>
    public required string Email { get; set; }

    /// <summary>SHA-256 of the row's key and the code.</summary>
    public required byte[] CodeHash { get; set; }

    /// <summary>Codes entered so far; at most <see cref="EmailVerifications.MaxAttempts"/>.</summary>
    public int Attempts { get; set; }

    /// <summary>Codes sent so far (the first and every "send a new code").</summary>
    public int Sends { get; set; }

    /// <summary>Where to go after signing in (a local URL).</summary>
    public string? ReturnUrl { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? ConsumedAt { get; set; }
}

internal sealed class EmailVerificationConfiguration : IEntityTypeConfiguration<EmailVerification>
{
    public void Configure(EntityTypeBuilder<EmailVerification> builder)
    {
        builder.Property(v => v.Id).HasMaxLength(64);
        builder.Property(v => v.Purpose).HasConversion<string>().HasMaxLength(16);
        builder.Property(v => v.Email).HasMaxLength(256);
        builder.Property(v => v.ReturnUrl).HasMaxLength(LocalReturnUrl.MaxLength);
        builder.HasIndex(v => v.ExpiresAt);
        builder.HasOne<PortalUser>().WithMany().HasForeignKey(v => v.UserId).OnDelete(DeleteBehavior.Cascade);
    }
}
