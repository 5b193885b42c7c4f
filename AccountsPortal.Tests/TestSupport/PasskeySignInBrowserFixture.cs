namespace AccountsPortal.Tests.TestSupport;

/// <summary>
/// A <see cref="BrowserFixture"/> whose portal offers passkey sign-in (<c>Passkeys:PasskeySignIn</c>, on by default in
/// the product and off in the shared fixture, whose journeys log in with a password).
/// </summary>
public sealed class PasskeySignInBrowserFixture : BrowserFixture
{
    public PasskeySignInBrowserFixture()
        : base(new Dictionary<string, string?> { ["Passkeys:PasskeySignIn"] = "true" })
    {
    }
}

/// <summary>The passkey sign-in journeys, on their own portal.</summary>
[CollectionDefinition(Name)]
public sealed class PasskeySignInBrowserCollection : ICollectionFixture<PasskeySignInBrowserFixture>
{
    public const string Name = "Browser, passkey sign-in";
}
