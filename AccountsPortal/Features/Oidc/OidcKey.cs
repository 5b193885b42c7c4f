using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AccountsPortal.Features.Oidc;

/// <summary>
/// One key of the provider's key ring: an RSA key that signs ID and access tokens (RS256, published in the JWKS), or an
/// AES key that encrypts authorization codes and refresh tokens (A256KW, never published). Keys belong to rotation slots of
/// <see cref="OidcOptions.KeyRotationInterval"/>: slot n's key is used from n × interval (Unix time) for one interval, is
/// published from its creation (a slot ahead) and accepted until <see cref="OidcOptions.LongestTokenLifetime"/> after
/// its slot ends. One key per use and slot (a unique index), so nodes that start together agree on it.
/// </summary>
public sealed class OidcKey
{
    public long Id { get; set; }

    /// <summary>"sig" or "enc" (RFC 7517 §4.2 <c>use</c>).</summary>
    public required string Use { get; set; }

    /// <summary>The rotation slot: the key is used from Slot × interval to (Slot + 1) × interval, Unix time.</summary>
    public long Slot { get; set; }

    /// <summary>The key id (<c>kid</c>): 16 random bytes, base64url.</summary>
    public required string KeyId { get; set; }

    /// <summary>The key (RSA PKCS#8 or 32 AES bytes), encrypted with the portal's Data Protection key ring.</summary>
    public required byte[] ProtectedMaterial { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

internal sealed class OidcKeyConfiguration : IEntityTypeConfiguration<OidcKey>
{
    public void Configure(EntityTypeBuilder<OidcKey> builder)
    {
        builder.ToTable("OidcKeys");
        builder.Property(k => k.Use).HasMaxLength(8);
        builder.Property(k => k.KeyId).HasMaxLength(64);
        builder.HasIndex(k => new { k.Use, k.Slot }).IsUnique();
        builder.HasIndex(k => k.KeyId).IsUnique();
    }
}

/// <summary>
/// The one use of a refresh token, claimed by one INSERT (the token's id is the key): OpenIddict lets parallel requests
/// with the same refresh token all through (it ignores a failed redemption of a refresh token, for its reuse leeway,
/// which the portal turns off), so the portal decides here which one request gets new tokens.
/// </summary>
public sealed class OidcRefreshRedemption
{
    /// <summary>The OpenIddict token id of the refresh token.</summary>
    public required string TokenId { get; set; }

    public DateTimeOffset RedeemedAt { get; set; }
}

internal sealed class OidcRefreshRedemptionConfiguration : IEntityTypeConfiguration<OidcRefreshRedemption>
{
    public void Configure(EntityTypeBuilder<OidcRefreshRedemption> builder)
    {
        builder.ToTable("OidcRefreshRedemptions");
        builder.HasKey(r => r.TokenId);
        builder.Property(r => r.TokenId).HasMaxLength(100);
    }
}
