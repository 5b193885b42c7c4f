namespace AccountsPortal.Features.Accounts.Passwords;

/// <summary>The hint shown beside every "new password" field.</summary>
public static class PasswordHint
{
    public const string Text = "At least 12 characters. A few unrelated words make a password that is strong and easy to remember.";
}
