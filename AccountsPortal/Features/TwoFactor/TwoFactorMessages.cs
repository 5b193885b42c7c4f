namespace AccountsPortal.Features.TwoFactor;

public static class TwoFactorMessages
{
    public const string CodeFormat = "Enter the 6-digit code from your authenticator app.";
    public const string WrongCode = "That code is not right. Check the time on your device and try again.";
    public const string UsedCode = "That code was already used. Wait for the next one.";
    public const string PasskeyRequired = "This account uses a passkey: verify with your passkey instead of a code.";
    public const string LoginSessionExpired = "This login session has expired.";
    public const string IncorrectRecoveryKey = "Incorrect recovery key";
    public const string OtherBrowser = "Recover two-factor in the browser you are signing in with.";
    public const string OtherBrowserCode = "Enter the code in the browser you are signing in with.";
    public const string ApprovalNeeded = "Confirm this sign-in first: pick the number shown on the device that is signing in.";
    public const string WrongPassword = "That password is not right.";
    public const string TooManyAttempts = "Too many failed attempts. Log in again.";

    public static string LockedOut(TimeSpan remaining) =>
        $"Too many failed attempts. Try again in {Math.Max(1, (int)Math.Ceiling(remaining.TotalMinutes))} minutes.";
}
