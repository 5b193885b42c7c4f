namespace AccountsPortal.Features.Oidc;

/// <summary>Log messages of the OpenID Connect provider, event ids 3101–3199. Never a token, code, secret or key.</summary>
internal static partial class OidcLog
{
    [LoggerMessage(EventId = 3101, EventName = "OidcKeyCreated", Level = LogLevel.Information, Message = "OpenID Connect {Use} key {KeyId} created for rotation slot {Slot}")]
    public static partial void KeyCreated(ILogger logger, string use, long slot, string keyId);

    [LoggerMessage(EventId = 3102, EventName = "OidcKeysRetired", Level = LogLevel.Information, Message = "{Count} OpenID Connect keys deleted: no token signed or encrypted with them can still be valid")]
    public static partial void KeysRetired(ILogger logger, int count);

    [LoggerMessage(EventId = 3103, EventName = "OidcClientsSynchronised", Level = LogLevel.Information, Message = "OpenID Connect clients: {Created} created, {Updated} updated, {Removed} removed")]
    public static partial void ClientsSynchronised(ILogger logger, int created, int updated, int removed);

    [LoggerMessage(EventId = 3104, EventName = "OidcSignedIn", Level = LogLevel.Information, Message = "Account {UserId} signed in to OpenID Connect client {ClientId} ({Methods})")]
    public static partial void SignedIn(ILogger logger, string userId, string clientId, string methods);

    [LoggerMessage(EventId = 3105, EventName = "OidcGrantEnded", Level = LogLevel.Information, Message = "Refresh for {ClientId} refused: the account {UserId} changed its security since the sign-in")]
    public static partial void GrantEndedByStamp(ILogger logger, string userId, string clientId);

    [LoggerMessage(EventId = 3106, EventName = "OidcGrantsRevoked", Level = LogLevel.Information, Message = "{Count} OpenID Connect sign-ins of {UserId} revoked")]
    public static partial void GrantsRevoked(ILogger logger, string userId, int count);

    [LoggerMessage(EventId = 3107, EventName = "OidcKeyUnreadable", Level = LogLevel.Error, Message = "OpenID Connect {Use} key {KeyId} of slot {Slot} cannot be decrypted (was the Data Protection certificate replaced without listing the old one as previous?); tokens signed or encrypted with it are no longer accepted")]
    public static partial void KeyUnreadable(ILogger logger, string use, long slot, string keyId);

    [LoggerMessage(EventId = 3108, EventName = "OidcKeyRefreshFailed", Level = LogLevel.Warning, Message = "Reading the OpenID Connect key ring failed; the keys read before stay in use, next try in {Interval}")]
    public static partial void KeyRefreshFailed(ILogger logger, Exception exception, TimeSpan interval);
}
