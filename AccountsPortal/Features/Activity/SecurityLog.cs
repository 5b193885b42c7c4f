namespace AccountsPortal.Features.Activity;

/// <summary>
/// The portal's security log messages, each with a stable event id operators can alert on: 1001–1099 for steps of
/// sign-in, passkeys, codes and tokens; 1100 + <see cref="SecurityEventKind"/>'s number for every security event an
/// account's activity page shows (<see cref="SecurityEvents.RecordAsync"/>). Ids are never reused or renumbered.
/// Messages carry account ids, counts and kinds, never a secret; text that came from a person or a client goes through
/// <see cref="LogText"/> so a line break in it cannot start a forged log line.
/// </summary>
public static partial class SecurityLog
{
    /// <summary>The first event id of the security events (1100 + the kind's number).</summary>
    public const int SecurityEventBase = 1100;

    [LoggerMessage(EventId = 1001, EventName = "SignUpStarted", Level = LogLevel.Information, Message = "Account {UserId} created; its address awaits verification")]
    public static partial void SignUpStarted(ILogger logger, string userId);

    [LoggerMessage(EventId = 1002, EventName = "SignUpWithTakenAddress", Level = LogLevel.Information, Message = "Sign-up with an address that already has an account; its owner was told")]
    public static partial void SignUpWithTakenAddress(ILogger logger);

    [LoggerMessage(EventId = 1003, EventName = "EmailVerificationStarted", Level = LogLevel.Information, Message = "Email verification ({Purpose}) started{Decoy}")]
    public static partial void EmailVerificationStarted(ILogger logger, string purpose, string decoy);

    [LoggerMessage(EventId = 1004, EventName = "EmailChanged", Level = LogLevel.Information, Message = "Email address of {UserId} changed")]
    public static partial void EmailChanged(ILogger logger, string userId);

    [LoggerMessage(EventId = 1005, EventName = "PasswordChanged", Level = LogLevel.Information, Message = "Password changed for {UserId}")]
    public static partial void PasswordChanged(ILogger logger, string userId);

    [LoggerMessage(EventId = 1006, EventName = "PasswordResetSent", Level = LogLevel.Information, Message = "Password reset link sent to the owner of {UserId}")]
    public static partial void PasswordResetSent(ILogger logger, string userId);

    [LoggerMessage(EventId = 1007, EventName = "PasswordReset", Level = LogLevel.Information, Message = "Password reset for {UserId}")]
    public static partial void PasswordReset(ILogger logger, string userId);

    [LoggerMessage(EventId = 1008, EventName = "LoginApproved", Level = LogLevel.Information, Message = "A login of {UserId} was approved on another device")]
    public static partial void LoginApproved(ILogger logger, string userId);

    [LoggerMessage(EventId = 1009, EventName = "LoginApprovalRefused", Level = LogLevel.Warning, Message = "A login of {UserId} was refused on another device ({Reason})")]
    public static partial void LoginApprovalRefused(ILogger logger, string userId, string reason);

    [LoggerMessage(EventId = 1010, EventName = "BrowserSignedOut", Level = LogLevel.Information, Message = "Browser session signed out by {UserId}")]
    public static partial void BrowserSignedOut(ILogger logger, string userId);

    [LoggerMessage(EventId = 1011, EventName = "SignedOutEverywhereElse", Level = LogLevel.Information, Message = "{UserId} signed out everywhere else")]
    public static partial void SignedOutEverywhereElse(ILogger logger, string userId);

    [LoggerMessage(EventId = 1012, EventName = "SecurityStampRotated", Level = LogLevel.Information,
        Message = "Security stamp of {UserId} rotated ({Reason}): {Browsers} browser sessions and {Apps} app tokens ended")]
    public static partial void SecurityStampRotated(ILogger logger, string userId, string reason, int browsers, int apps);

    [LoggerMessage(EventId = 1013, EventName = "AppTokenWithdrawn", Level = LogLevel.Information, Message = "App token for {UserId} withdrawn: the account's factors changed during the login")]
    public static partial void AppTokenWithdrawn(ILogger logger, string userId);

    [LoggerMessage(EventId = 1014, EventName = "AppTokenIssued", Level = LogLevel.Information, Message = "App token {TokenId} issued to {ClientId} for {UserId}")]
    public static partial void AppTokenIssued(ILogger logger, long tokenId, string clientId, string userId);

    [LoggerMessage(EventId = 1015, EventName = "IdentityConfirmation", Level = LogLevel.Information, Message = "{UserId} {Outcome} it's them {How}")]
    public static partial void IdentityConfirmation(ILogger logger, string userId, string outcome, string how);

    [LoggerMessage(EventId = 1016, EventName = "ConfirmedWithRecoveryKey", Level = LogLevel.Information, Message = "{UserId} confirmed a change with the recovery key; a new key was issued")]
    public static partial void ConfirmedWithRecoveryKey(ILogger logger, string userId);

    [LoggerMessage(EventId = 1017, EventName = "RecoveryKeyWrong", Level = LogLevel.Information, Message = "Wrong recovery key for {UserId}")]
    public static partial void RecoveryKeyWrong(ILogger logger, string userId);

    [LoggerMessage(EventId = 1018, EventName = "RecoveryKeyUsed", Level = LogLevel.Information, Message = "Recovery key used to verify a login for {UserId}; a new key was issued")]
    public static partial void RecoveryKeyUsed(ILogger logger, string userId);

    [LoggerMessage(EventId = 1019, EventName = "TotpVerified", Level = LogLevel.Information, Message = "Authenticator code verified a login for {UserId}")]
    public static partial void TotpVerified(ILogger logger, string userId);

    [LoggerMessage(EventId = 1020, EventName = "TotpEnabled", Level = LogLevel.Information, Message = "Authenticator app {Action} for {UserId}")]
    public static partial void TotpEnabled(ILogger logger, string action, string userId);

    [LoggerMessage(EventId = 1021, EventName = "TotpDisabled", Level = LogLevel.Information, Message = "Authenticator app disabled for {UserId}")]
    public static partial void TotpDisabled(ILogger logger, string userId);

    [LoggerMessage(EventId = 1022, EventName = "PasskeyDeleted", Level = LogLevel.Information, Message = "Passkey {PasskeyId} deleted by {UserId}")]
    public static partial void PasskeyDeleted(ILogger logger, long passkeyId, string userId);

    [LoggerMessage(EventId = 1023, EventName = "PasskeyRegistrationRefused", Level = LogLevel.Information, Message = "Passkey registration for {UserId} refused: {Reason}")]
    public static partial void PasskeyRegistrationRefused(ILogger logger, string userId, LogText reason);

    [LoggerMessage(EventId = 1024, EventName = "PasskeyAdded", Level = LogLevel.Information, Message = "Passkey {PasskeyId} added for {UserId}")]
    public static partial void PasskeyAdded(ILogger logger, long passkeyId, string userId);

    [LoggerMessage(EventId = 1025, EventName = "PasskeyAssertionRefused", Level = LogLevel.Information, Message = "Passkey assertion ({Purpose}) for {UserId} refused: {Reason}")]
    public static partial void PasskeyAssertionRefused(ILogger logger, string purpose, string? userId, LogText reason);

    [LoggerMessage(EventId = 1026, EventName = "PasskeyVerified", Level = LogLevel.Information, Message = "Passkey {PasskeyId} verified for {UserId}")]
    public static partial void PasskeyVerified(ILogger logger, long passkeyId, string userId);

    [LoggerMessage(EventId = 1027, EventName = "PasskeyCounterWentBack", Level = LogLevel.Warning, Message = "Passkey {PasskeyId} presented counter {Asserted} after {Stored}: possibly cloned")]
    public static partial void PasskeyCounterWentBack(ILogger logger, long passkeyId, uint asserted, long stored);

    /// <summary>Logs a recorded security event: event id 1100 + the kind's number, named after the kind; a warning for the kinds that may mean an attack.</summary>
    public static void Recorded(ILogger logger, SecurityEvent securityEvent)
    {
        var level = securityEvent.Kind is SecurityEventKind.AccountLockedOut or SecurityEventKind.SecondFactorLockedOut
            or SecurityEventKind.PasskeyPossiblyCloned or SecurityEventKind.SignInRefusedWhileLocked or SecurityEventKind.SignInApprovalBlocked
            ? LogLevel.Warning
            : LogLevel.Information;
        if (!logger.IsEnabled(level))
        {
            return;
        }

        var eventId = new EventId(SecurityEventBase + (int)securityEvent.Kind, securityEvent.Kind.ToString());
        logger.Log(level, eventId, "Security event {Kind} for {UserId}: {Detail}", securityEvent.Kind, securityEvent.UserId, new LogText(securityEvent.Detail));
    }
}
