using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// Assertion challenges the portal can check without having stored them (WebAuthn L3 §13.4.3: random, unguessable,
/// and checked by the relying party). The challenge is a Data Protection payload (authenticated encryption under the
/// key ring every node shares, persisted in the database) holding its expiry, 16 random bytes, whether it lists every
/// credential the options offered, and an 8-byte digest of each one it lists (<c>allowCredentials</c>, at most <see cref="MaxOfferedCredentials"/>);
/// it is sealed for one purpose, account and binding (login session, browser session or sign-in origin), so it opens
/// for nothing else. Asking for options therefore writes nothing; the single use is recorded where the answer is,
/// in the transaction that records it (<see cref="PasskeyCeremonies.TryUseAsync"/>).
/// </summary>
public sealed class PasskeyChallenges(IDataProtectionProvider dataProtection, TimeProvider time)
{
    // 2: with the byte that says whether the list is complete (1, never shipped, had none).
    private const byte Version = 2;
    private const int NonceLength = 16;
    private const int ExpiryOffset = 1;
    private const int NonceOffset = ExpiryOffset + sizeof(long);
    private const int CompleteOffset = NonceOffset + NonceLength;
    private const int HeaderLength = CompleteOffset + 1;

    /// <summary>Bytes of SHA-256 kept per offered credential: a collision of two ids within one account is 2^-64.</summary>
    internal const int DigestLength = 8;

    /// <summary>
    /// The longest challenge (base64url characters) <see cref="Open"/> reads; anything longer is refused before it is
    /// decoded. An issued one is about 262 characters with ten offered credentials (the default limit) and 3,000 with
    /// <see cref="MaxOfferedCredentials"/>.
    /// </summary>
    public const int MaxEncodedLength = 4096;

    /// <summary>The most credentials one challenge can list: the ceiling of <see cref="PasskeyOptions.MaxPasskeysPerUser"/>.</summary>
    public const int MaxOfferedCredentials = 256;

    private readonly IDataProtector root = dataProtection.CreateProtector("AccountsPortal.Passkeys.AssertionChallenge.v1");

    /// <summary>A new challenge for <paramref name="purpose"/>, <paramref name="userId"/> and <paramref name="boundTo"/>.</summary>
    /// <param name="offered">The credential ids the options list in <c>allowCredentials</c> (empty for a sign-in); the first <see cref="MaxOfferedCredentials"/> are remembered.</param>
    /// <param name="lifetime">How long the challenge can be answered (<see cref="PasskeyOptions.LoginChallengeLifetime"/>).</param>
    public byte[] Issue(CeremonyPurpose purpose, string? userId, string? boundTo, IReadOnlyList<byte[]> offered, TimeSpan lifetime)
    {
        ArgumentNullException.ThrowIfNull(offered);
        // More than the ceiling only where an account kept passkeys from before it: those beyond are not remembered, and
        // the challenge says its list is incomplete (then any of the account's passkeys may answer it, and one answered
        // after it was deleted is refused without naming it).
        var listed = Math.Min(offered.Count, MaxOfferedCredentials);
        var payload = new byte[HeaderLength + (DigestLength * listed)];
        payload[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(ExpiryOffset), (time.GetUtcNow() + lifetime).ToUnixTimeMilliseconds());
        RandomNumberGenerator.Fill(payload.AsSpan(NonceOffset, NonceLength));
        payload[CompleteOffset] = listed == offered.Count ? (byte)1 : (byte)0;
        for (var i = 0; i < listed; i++)
        {
            Digest(offered[i]).CopyTo(payload.AsSpan(HeaderLength + (i * DigestLength)));
        }

        return ProtectorFor(purpose, userId, boundTo).Protect(payload);
    }

    /// <summary>
    /// The challenge <paramref name="challenge"/> (base64url, as the options carried it and clientDataJSON echoes it) when
    /// the portal issued it for exactly this purpose, account and binding and it has not expired; null otherwise
    /// (unreadable, too long, forged, sealed for something else, under a revoked key, or expired). Whether it was
    /// answered before is not known here: <see cref="PasskeyCeremonies.TryUseAsync"/> decides that, once.
    /// </summary>
    public OpenedChallenge? Open(string? challenge, CeremonyPurpose purpose, string? userId, string? boundTo)
    {
        if (string.IsNullOrEmpty(challenge) || challenge.Length > MaxEncodedLength)
        {
            return null;
        }

        byte[] sealedBytes, payload;
        try
        {
            sealedBytes = Base64Url.DecodeFromChars(challenge);
            payload = ProtectorFor(purpose, userId, boundTo).Unprotect(sealedBytes);
        }
        catch (Exception exception) when (exception is FormatException or CryptographicException)
        {
            return null;
        }

        if (payload.Length < HeaderLength || (payload.Length - HeaderLength) % DigestLength != 0 || payload[0] != Version
            || payload[CompleteOffset] > 1)
        {
            return null;
        }

        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(payload.AsSpan(ExpiryOffset)));
        return expiresAt <= time.GetUtcNow()
            ? null
            : new OpenedChallenge(UseIdOf(sealedBytes), sealedBytes, expiresAt, payload[HeaderLength..], payload[CompleteOffset] == 1);
    }

    /// <summary>The key under which a challenge's use is recorded: base64url of its SHA-256 (43 characters).</summary>
    internal static string UseIdOf(byte[] challenge) => Base64Url.EncodeToString(SHA256.HashData(challenge));

    internal static byte[] Digest(byte[] credentialId) => SHA256.HashData(credentialId)[..DigestLength];

    // Purpose, account and binding are Data Protection purposes: authenticated with the payload, never stored in it.
    // A missing account or binding has a purpose of its own, which no value (prefixed) can spell.
    private IDataProtector ProtectorFor(CeremonyPurpose purpose, string? userId, string? boundTo) =>
        root.CreateProtector(purpose.ToString(), userId is null ? "no user" : "user:" + userId, boundTo is null ? "not bound" : "bound:" + boundTo);
}

/// <summary>A challenge <see cref="PasskeyChallenges.Open"/> accepted.</summary>
/// <param name="UseId">The id its single use is recorded under (<see cref="PasskeyCeremonies.TryUseAsync"/>).</param>
/// <param name="Challenge">The challenge's bytes, for the options the answer is verified against.</param>
/// <param name="ExpiresAt">When it stops being answerable; its use is kept at least that long.</param>
/// <param name="OfferedDigests"><see cref="PasskeyChallenges.DigestLength"/> bytes per credential the options offered.</param>
/// <param name="ListsEveryOffered">Whether <paramref name="OfferedDigests"/> holds every credential offered (false only beyond <see cref="PasskeyChallenges.MaxOfferedCredentials"/>).</param>
public sealed record OpenedChallenge(string UseId, byte[] Challenge, DateTimeOffset ExpiresAt, byte[] OfferedDigests, bool ListsEveryOffered)
{
    /// <summary>
    /// Whether <paramref name="credentialId"/> may answer: the options offered it (WebAuthn L3 §7.2 step 5,
    /// <c>allowCredentials</c>), or they offered none (a sign-in: any discoverable credential), or the list is
    /// incomplete. A passkey added after the options were issued may not.
    /// </summary>
    public bool Allows(byte[] credentialId) => !ListsEveryOffered || OfferedDigests.Length == 0 || Offered(credentialId);

    /// <summary>Whether the options listed <paramref name="credentialId"/> in <c>allowCredentials</c>.</summary>
    public bool Offered(byte[] credentialId)
    {
        var digest = PasskeyChallenges.Digest(credentialId);
        for (var at = 0; at < OfferedDigests.Length; at += PasskeyChallenges.DigestLength)
        {
            if (OfferedDigests.AsSpan(at, PasskeyChallenges.DigestLength).SequenceEqual(digest))
            {
                return true;
            }
        }

        return false;
    }
}
