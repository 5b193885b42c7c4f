namespace AccountsPortal.Features.Passkeys;

/// <summary>What the passkey pages tell people; one place so that pages and tests agree.</summary>
public static class PasskeyMessages
{
    public const string AlreadyRegistered = "This passkey is already registered.";
    public const string RequestExpired = "The passkey request expired, try again.";
    public const string Unreadable = "The passkey's answer could not be read. Try again.";
    public const string NotVerified = "The passkey could not be verified. Try again.";
    public const string WrongOrigin = "The passkey answered for another website.";
    public const string NotThisAccount = "This passkey is not registered for this account.";
    public const string PossiblyCloned = "This passkey's signature counter went backwards, so it may have been copied. Use another passkey or recover two-factor.";
    public const string LoginSessionExpired = "This login session has expired.";
    public const string ApprovalNeeded = "Confirm this sign-in first: pick the number shown on the device that is signing in.";
    public const string LoginRefused = "This sign-in was refused on the device asked to approve it.";
    public const string UnknownPasskey = "This passkey is not registered here (it may have been deleted). Log in with your email and password.";
    public const string UserVerificationNeeded = "Signing in with a passkey alone needs your device to check it is you (a PIN, fingerprint or face). Try again, or log in with your email and password.";
    public const string SignInUnavailable = "Signing in with a passkey is turned off on this portal. Log in with your email and password.";
    public const string SignInEmailNotVerified = "Verify your email address first: log in once with your email and password, and enter the code we send.";
    public const string TooManyAttempts = "Too many failed attempts. Log in again.";

    public static string Limit(int max) => $"You can have at most {max} passkeys.";
}
