using Microsoft.AspNetCore.Identity;

namespace AccountsPortal.Features.Accounts.SignIn;

/// <summary>The password step of a login, with Identity's lockout. It never signs anyone in by itself.</summary>
public sealed class PasswordSignIn(
    UserManager<PortalUser> users,
    SignInManager<PortalUser> signInManager,
    IPasswordHasher<PortalUser> hasher,
    Activity.SecurityEvents events)
{
    // A real hash of a throw-away password, so an unknown email costs the same hashing work as a wrong password.
    private static readonly Lazy<string> DecoyHash = new(() =>
        new PasswordHasher<PortalUser>().HashPassword(new PortalUser(), Guid.NewGuid().ToString()));

    public async Task<PasswordCheck> CheckAsync(string email, string password)
    {
        var user = await users.FindByEmailAsync(email.Trim());
        if (user is null)
        {
            hasher.VerifyHashedPassword(new PortalUser(), DecoyHash.Value, password);
            return PasswordCheck.Invalid;
        }

        var wasLockedOut = await users.IsLockedOutAsync(user);
        var result = await signInManager.CheckPasswordSignInAsync(user, password, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            return new PasswordCheck(PasswordCheckOutcome.Succeeded, user);
        }

        if (!wasLockedOut)
        {
            await events.RecordAsync(user.Id, result.IsLockedOut ? Activity.SecurityEventKind.AccountLockedOut : Activity.SecurityEventKind.PasswordRejected);
        }

        return result.IsLockedOut
            ? new PasswordCheck(PasswordCheckOutcome.LockedOut, null, await users.GetLockoutEndDateAsync(user))
            : PasswordCheck.Invalid;
    }
}

public enum PasswordCheckOutcome
{
    Succeeded,
    Invalid,
    LockedOut,
}

/// <param name="LockedUntil">When a locked-out account accepts passwords again.</param>
public sealed record PasswordCheck(PasswordCheckOutcome Outcome, PortalUser? User, DateTimeOffset? LockedUntil = null)
{
    public static readonly PasswordCheck Invalid = new(PasswordCheckOutcome.Invalid, null);
}
