using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.EmailAddresses;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.SignUp;

/// <summary>
/// Creates an account whose address is not yet verified, and emails it a code (<see cref="EmailVerifications"/>).
/// The account can do nothing until the code is entered: then its address is verified, its recovery key issued
/// and it signs in (<see cref="VerifiedSignIn"/>). An address that already has an account gets exactly the same
/// answer — the same page, cookie and work — while its owner is emailed that someone tried to sign up with it.
/// </summary>
public sealed class AccountRegistration(
    PortalDbContext db,
    UserManager<PortalUser> users,
    EmailVerifications verifications,
    Activity.SecurityEvents events,
    Attempts.AttemptRateLimiter rateLimiter,
    TimeProvider time,
    ILogger<AccountRegistration> logger)
{
    /// <summary>Said for an address Identity refuses as an address (never for one that is taken: that answers like a new sign-up).</summary>
    public const string InvalidEmailMessage = "This email address cannot be used to create an account.";

    /// <param name="email">
    /// Stored in Unicode NFC, the form the account lookup normalises to (Identity's <c>NormalizeEmail</c>):
    /// "\u212Aate@…" (KELVIN SIGN) is stored, found, limited and locked as "Kate@…".
    /// </param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<RegistrationResult> RegisterAsync(string email, string password, System.Net.IPAddress? clientIp = null, CancellationToken cancellationToken = default)
    {
        email = email.Trim().Normalize(System.Text.NormalizationForm.FormC);
        var normalized = users.NormalizeEmail(email);
        if (await rateLimiter.TryAcquireForEmailAsync(clientIp, normalized, cancellationToken) is not null)
        {
            return RegistrationResult.Fail([Attempts.AttemptMessages.RateLimited], rateLimited: true);
        }

        var user = new PortalUser { UserName = email, Email = email, CreatedAt = time.GetUtcNow() };
        // The password's rules do not depend on whether the address is taken: checked first, for every address alike.
        var rules = new List<string>();
        foreach (var validator in users.PasswordValidators)
        {
            rules.AddRange((await validator.ValidateAsync(users, user, password)).Errors.Select(e => e.Description));
        }

        if (rules.Count > 0)
        {
            return RegistrationResult.Fail([.. rules.Distinct()]);
        }

        if (await db.Users.AnyAsync(u => u.NormalizedEmail == normalized, cancellationToken))
        {
            return await AlreadyRegisteredAsync(user, password, cancellationToken);
        }

        // Hashed before the transaction: SQLite's write lock is never held for the ~100 ms a hash takes.
        user.PasswordHash = users.PasswordHasher.HashPassword(user, password);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        try
        {
            var created = await users.CreateAsync(user);
            if (!created.Succeeded)
            {
                if (created.Errors.Any(e => e.Code is nameof(IdentityErrorDescriber.DuplicateEmail) or nameof(IdentityErrorDescriber.DuplicateUserName)))
                {
                    await transaction.RollbackAsync(cancellationToken);
                    return await AlreadyRegisteredAsync(user, password: null, cancellationToken);
                }

                return RegistrationResult.Fail([.. created.Errors.Select(e => e.Code is nameof(IdentityErrorDescriber.InvalidEmail) or nameof(IdentityErrorDescriber.InvalidUserName)
                    ? InvalidEmailMessage : e.Description).Distinct()]);
            }

            await events.RecordAsync(user.Id, Activity.SecurityEventKind.AccountCreated, cancellationToken: cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Two sign-ups with one address at once: the unique index lets one through; the other answers alike.
            await transaction.RollbackAsync(cancellationToken);
            db.ChangeTracker.Clear();
            return await AlreadyRegisteredAsync(user, password: null, cancellationToken);
        }

        Activity.SecurityLog.SignUpStarted(logger, user.Id);
        var (secret, expiresAt) = await verifications.StartAsync(EmailVerificationPurpose.SignUp, user.Id, email, LocalReturnUrl.Default, cancellationToken);
        return new RegistrationResult(secret, expiresAt, []);
    }

    /// <summary>
    /// The answer for a taken address: the same work (a password hash), the same page and cookie, showing the address
    /// as it was typed (never as the account stores it: its case would tell); the owner is emailed.
    /// </summary>
    private async Task<RegistrationResult> AlreadyRegisteredAsync(PortalUser decoy, string? password, CancellationToken cancellationToken)
    {
        if (password is not null)
        {
            users.PasswordHasher.HashPassword(decoy, password);
        }

        var (secret, expiresAt) = await verifications.StartAsync(EmailVerificationPurpose.SignUp, null, decoy.Email!, null, cancellationToken);
        Activity.SecurityLog.SignUpWithTakenAddress(logger);
        return new RegistrationResult(secret, expiresAt, []);
    }
}

/// <param name="VerificationSecret">For the browser's verification cookie; null when refused.</param>
public sealed record RegistrationResult(string? VerificationSecret, DateTimeOffset ExpiresAt, IReadOnlyList<string> Errors, bool RateLimited = false)
{
    public bool Succeeded => VerificationSecret is not null;

    public static RegistrationResult Fail(IReadOnlyList<string> errors, bool rateLimited = false) => new(null, default, errors, rateLimited);
}
