using System.Buffers.Text;
using AccountsPortal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AccountsPortal.Features.Passkeys;

/// <summary>
/// What the portal tells the browser's passkey managers through the WebAuthn Signal API (WebAuthn L3 §5.1.10), so
/// that a deleted passkey is no longer offered and a passkey shows the account's current address. Builds the
/// signals' arguments from the account as stored; <see cref="PasskeyBrowser"/> sends them. Reads only; an account
/// that does not exist gets no signal (null).
/// </summary>
public sealed class PasskeySignals(PortalDbContext db, IOptions<PasskeyOptions> options)
{
    /// <summary>
    /// The account's passkeys and name as the browser's passkey managers should know them: every credential id the
    /// account still has (§5.1.10.2 <c>signalAllAcceptedCredentials</c>), and its email address as the passkey's
    /// user name and display name (§5.1.10.3 <c>signalCurrentUserDetails</c>), as <see cref="PasskeyRegistration"/>
    /// gives them when a passkey is created. Null when there is no such account.
    /// </summary>
    public async Task<AccountSignals?> ForAccountAsync(string userId, CancellationToken cancellationToken = default)
    {
        var email = await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.Email).SingleOrDefaultAsync(cancellationToken);
        if (email is null)
        {
            return null;
        }

        var credentialIds = await db.Passkeys.AsNoTracking().Where(p => p.UserId == userId)
            .OrderBy(p => p.Id).Select(p => p.CredentialId).ToListAsync(cancellationToken);
        var rpId = options.Value.RelyingPartyId;
        var userHandle = UserHandleText(userId);
        return new AccountSignals(
            new AllAcceptedCredentialsSignal(rpId, userHandle, [.. credentialIds.Select(id => Base64Url.EncodeToString(id))]),
            new CurrentUserDetailsSignal(rpId, userHandle, email, email));
    }

    /// <summary>The account's WebAuthn user handle (<see cref="PasskeyRelyingParty.UserHandleOf"/>) as base64url, the form the signals take.</summary>
    public static string UserHandleText(string userId) => Base64Url.EncodeToString(PasskeyRelyingParty.UserHandleOf(userId));
}

/// <summary>Both signals about one account, sent together.</summary>
public sealed record AccountSignals(AllAcceptedCredentialsSignal AllAcceptedCredentials, CurrentUserDetailsSignal CurrentUserDetails);

/// <summary>
/// The argument of <c>PublicKeyCredential.signalAllAcceptedCredentials</c> (WebAuthn L3 §5.1.10.2, <c>AllAcceptedCredentialsOptions</c>):
/// a passkey manager hides or removes this account's passkeys for this RP that are not listed. An empty list means none is left.
/// </summary>
/// <param name="RpId">The relying party id (<see cref="PasskeyOptions.RelyingPartyId"/>).</param>
/// <param name="UserId">The account's user handle, base64url without padding.</param>
/// <param name="AllAcceptedCredentialIds">Every credential id the account still has, base64url without padding.</param>
public sealed record AllAcceptedCredentialsSignal(string RpId, string UserId, IReadOnlyList<string> AllAcceptedCredentialIds);

/// <summary>
/// The argument of <c>PublicKeyCredential.signalCurrentUserDetails</c> (WebAuthn L3 §5.1.10.3, <c>CurrentUserDetailsOptions</c>):
/// a passkey manager updates the user name and display name it shows for this account's passkeys.
/// </summary>
/// <param name="RpId">The relying party id (<see cref="PasskeyOptions.RelyingPartyId"/>).</param>
/// <param name="UserId">The account's user handle, base64url without padding.</param>
/// <param name="Name">The account's email address, as <c>user.name</c> at registration.</param>
/// <param name="DisplayName">The account's email address, as <c>user.displayName</c> at registration.</param>
public sealed record CurrentUserDetailsSignal(string RpId, string UserId, string Name, string DisplayName);

/// <summary>
/// The argument of <c>PublicKeyCredential.signalUnknownCredential</c> (WebAuthn L3 §5.1.10.1, <c>UnknownCredentialOptions</c>):
/// a passkey manager hides or removes this passkey.
/// </summary>
/// <param name="RpId">The relying party id (<see cref="PasskeyOptions.RelyingPartyId"/>).</param>
/// <param name="CredentialId">The credential id the browser sent, base64url without padding.</param>
public sealed record UnknownCredentialSignal(string RpId, string CredentialId);
