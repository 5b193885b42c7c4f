namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// What a caller holds for a login session. A second factor is only taken from someone holding one of:
/// the browser that passed the password step (its pending-login cookie), the app that started the login
/// through the API (its session secret, which is the session's binding), or the device that picked the
/// approval number (its approval cookie; WebAuthn L3 §13.4.7 leaves "which device asked" to the relying party).
/// </summary>
/// <param name="BindingSecret">The pending-login cookie of a browser, or an app's session secret.</param>
/// <param name="ApprovalSecret">The approval cookie of a device that picked the right number.</param>
public sealed record LoginProof(string? BindingSecret, string? ApprovalSecret)
{
    public static readonly LoginProof None = new(null, null);

    /// <summary>The cookies of the browser making this request.</summary>
    public static LoginProof From(HttpContext context) =>
        new(PendingLoginCookie.Read(context), LoginApprovalCookie.Read(context));

    /// <summary>An app's call with its X-Session-Secret header.</summary>
    public static LoginProof ForApp(string? sessionSecret) => new(sessionSecret, null);

    internal byte[] BindingHash => Hash(BindingSecret);

    /// <summary>
    /// Whether this proof holds <paramref name="session"/> (as <see cref="LoginSessionService.IsHeldByAsync"/> asks the
    /// database), on a row already read: compared in constant time. The statement that changes the session checks again.
    /// </summary>
    internal bool Holds(LoginSession session, bool approvalAllowed) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(BindingHash, session.BrowserBindingHash)
        | (approvalAllowed && session.ApprovalHash is { } approval
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(ApprovalHash, approval));

    internal byte[] ApprovalHash => Hash(ApprovalSecret);

    // An absent secret hashes to a value no stored hash has (stored hashes are 32 bytes).
    private static byte[] Hash(string? secret) => string.IsNullOrEmpty(secret) || secret.Length > 128 ? [0] : SecretTokens.Hash(secret);
}
