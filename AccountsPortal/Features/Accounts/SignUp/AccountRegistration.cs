using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.SignUp;

/// <summary>Creates an account and its first recovery key together: either both exist or neither.</summary>
public sealed class AccountRegistration(
    PortalDbContext db,
    UserManager<PortalUser> users,
    RecoveryKeyService recoveryKeys,
    Activity.SecurityEvents events,
    Attempts.AttemptRateLimiter rateLimiter,
    TimeProvider time,
    ILogger<AccountRegistration> logger)
{
    /// <summary>
    /// Said for an email that already has an account, in the same words as any other refusal of the address:
    /// the refusal does not say that an account exists (a sign-up that succeeds still shows the address was free,
    /// until sign-up verifies addresses by email).
    /// </summary>
    public const string DuplicateEmailMessage = "This email address cannot be used to create an account. If you already have one, log in instead.";

    /// <param name="email">
    /// Stored in Unicode NFC, the form the account lookup normalises to (Identity's <c>NormalizeEmail</c>):
    /// "\u212Aate@…" (KELVIN SIGN) is stored, found, limited and locked as "Kate@…".
    /// </param>
    /// <param name="clientIp">The caller's address, for the per-IP rate limit.</param>
    public async Task<RegistrationResult> RegisterAsync(string email, string password, System.Net.IPAddress? clientIp = null, CancellationToken cancellationToken = default)
    {
        email = email.Trim().Normalize(System.Text.NormalizationForm.FormC);
        if (rateLimiter.TryAcquireForEmail(clientIp, users.NormalizeEmail(email)) is not null)
        {
            return RegistrationResult.Fail([Attempts.AttemptMessages.RateLimited], rateLimited: true);
        }

        var user = new PortalUser { UserName = email, Email = email, CreatedAt = time.GetUtcNow() };

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        try
        {
            var created = await users.CreateAsync(user, password);
            if (!created.Succeeded)
            {
                return RegistrationResult.Fail(DescribeErrors(created.Errors));
            }

            var words = await recoveryKeys.IssueAsync(user.Id, cancellationToken);
            await events.RecordAsync(user.Id, Activity.SecurityEventKind.AccountCreated, cancellationToken: cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            logger.LogInformation("Account {UserId} created", user.Id);
            return new RegistrationResult(user, words, []);
        }
        catch (DbUpdateException)
        {
            // Two sign-ups with one email at once: the unique index on the user name lets only one through.
            return RegistrationResult.Fail([DuplicateEmailMessage]);
        }
    }

    private static string[] DescribeErrors(IEnumerable<IdentityError> errors) =>
        [.. errors
            .Select(error => error.Code is nameof(IdentityErrorDescriber.DuplicateEmail) or nameof(IdentityErrorDescriber.DuplicateUserName)
                    or nameof(IdentityErrorDescriber.InvalidEmail) or nameof(IdentityErrorDescriber.InvalidUserName)
                ? DuplicateEmailMessage
                : error.Description)
            .Distinct()];
}

public sealed record RegistrationResult(PortalUser? User, IReadOnlyList<string>? RecoveryKeyWords, IReadOnlyList<string> Errors, bool RateLimited = false)
{
    public bool Succeeded => User is not null;

    public static RegistrationResult Fail(IReadOnlyList<string> errors, bool rateLimited = false) => new(null, null, errors, rateLimited);
}
