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
    TimeProvider time,
    ILogger<AccountRegistration> logger)
{
    public const string DuplicateEmailMessage = "An account with this email already exists. Log in instead.";

    public async Task<RegistrationResult> RegisterAsync(string email, string password, CancellationToken cancellationToken = default)
    {
        email = email.Trim();
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
                ? DuplicateEmailMessage
                : error.Description)
            .Distinct()];
}

public sealed record RegistrationResult(PortalUser? User, IReadOnlyList<string>? RecoveryKeyWords, IReadOnlyList<string> Errors)
{
    public bool Succeeded => User is not null;

    public static RegistrationResult Fail(IReadOnlyList<string> errors) => new(null, null, errors);
}
