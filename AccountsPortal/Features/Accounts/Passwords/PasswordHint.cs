namespace AccountsPortal.Features.Accounts.Passwords;

/// <summary>The hint shown beside every "new password" field.</summary>
public static class PasswordHint
{
    /// <param name="minLength">Identity's <c>Password.RequiredLength</c>.</param>
    public static string Text(int minLength) =>
        $"At least {minLength} characters. A few unrelated words make a password that is strong and easy to remember.";
}
