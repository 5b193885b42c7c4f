using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AccountsPortal.Data;
using AccountsPortal.Features.Email;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.EmailAddresses;

/// <summary>
/// Emailed 6-digit codes that prove a person reads an address: at sign-up (and at the sign-in of an account
/// whose address was never verified) and when an address is changed. Each code is bound to the browser that
/// asked for it (a cookie), lasts <see cref="Lifetime"/>, takes at most <see cref="MaxAttempts"/> tries in all
/// (counted by one conditional UPDATE, so parallel guesses get no more) and works once.
/// </summary>
public sealed class EmailVerifications(
    PortalDbContext db,
    Attempts.AttemptLimits attempts,
    EmailOutbox outbox,
    EmailTemplate template,
    EmailLinks links,
    Notifications.ActorContext actors,
    Microsoft.AspNetCore.Identity.ILookupNormalizer normalizer,
    TimeProvider time,
    ILogger<EmailVerifications> logger)
{
    public const string CookieName = "AccountsPortal.EmailVerification";
    public const string VerifyPath = "/signup/verify";
    public const int MaxAttempts = 5;
    public const int MaxSends = 5;
    public const string WrongCode = "That code is not right. Check the latest email we sent.";
    public const string Expired = "This code has expired or was tried too many times. Start again.";
    public const string TooManyForAccount = "Too many wrong codes for this account. Try again in an hour.";

    /// <summary>How long a code works.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Wrong codes per account, whichever of its codes they were tried against: a new code (another login,
    /// another "send a new code") gives no new guesses. After the limit, codes are refused for an hour.
    /// </summary>
    public static readonly Attempts.AttemptPolicy AccountPolicy = new(10, TimeSpan.FromHours(1));

    public static string AccountKey(string userId) => "email-code:" + userId;

    /// <summary>
    /// Emails a code for <paramref name="purpose"/> to <paramref name="email"/> and returns the secret for the
    /// browser's cookie. With <paramref name="userId"/> null (a sign-up with an address that already has an
    /// account) the address gets a note instead of a code, and no code will ever match.
    /// </summary>
    public async Task<(string Secret, DateTimeOffset ExpiresAt)> StartAsync(
        EmailVerificationPurpose purpose, string? userId, string email, string? returnUrl, CancellationToken cancellationToken = default)
    {
        var secret = SecretTokens.New();
        var id = KeyOf(secret);
        var code = NewCode();
        var now = time.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (userId is not null)
        {
            // One live code per account: asking again closes the earlier ones (one request at a time per account).
            await db.LockAccountAsync(userId, cancellationToken);
            await db.EmailVerifications.Where(v => v.UserId == userId && v.ConsumedAt == null)
                .ExecuteUpdateAsync(set => set.SetProperty(v => v.ConsumedAt, now), cancellationToken);
        }

        var verification = new EmailVerification
        {
            Id = id,
            UserId = userId,
            Purpose = purpose,
            Email = email,
            CodeHash = HashOf(id, code),
            Sends = 1,
            ReturnUrl = returnUrl is null ? null : LocalReturnUrl.Sanitize(returnUrl),
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };
        db.EmailVerifications.Add(verification);
        await db.SaveChangesAsync(cancellationToken);
        db.Entry(verification).State = EntityState.Detached;
        await outbox.EnqueueAsync(userId is null ? await AlreadyRegisteredAsync(email, cancellationToken) : CodeEmail(purpose, email, code), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        Activity.SecurityLog.EmailVerificationStarted(logger, purpose.ToString(), userId is null ? " for an address that already has an account" : "");
        return (secret, verification.ExpiresAt);
    }

    /// <summary>Sends a new code (the old one stops working), at most <see cref="MaxSends"/> times; false when not possible.</summary>
    public async Task<bool> ResendAsync(string? secret, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return false;
        }

        var id = KeyOf(secret);
        var now = time.GetUtcNow();
        var code = NewCode();
        var hash = HashOf(id, code);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var resent = await Live(id, now).Where(v => v.Sends < MaxSends)
            .ExecuteUpdateAsync(set => set.SetProperty(v => v.CodeHash, hash).SetProperty(v => v.Sends, v => v.Sends + 1), cancellationToken);
        if (resent != 1)
        {
            return false;
        }

        var row = await db.EmailVerifications.AsNoTracking().SingleAsync(v => v.Id == id, cancellationToken);
        await outbox.EnqueueAsync(row.UserId is null ? await AlreadyRegisteredAsync(row.Email, cancellationToken) : CodeEmail(row.Purpose, row.Email, code), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>The pending verification this browser holds, for its page; null when there is none (or it is over).</summary>
    public Task<PendingVerification?> FindAsync(string? secret, CancellationToken cancellationToken = default) =>
        string.IsNullOrEmpty(secret)
            ? Task.FromResult<PendingVerification?>(null)
            : Live(KeyOf(secret), time.GetUtcNow()).AsNoTracking()
                .Select(v => new PendingVerification(v.Purpose, v.Email, v.ExpiresAt, v.Sends < MaxSends))
                .SingleOrDefaultAsync(cancellationToken);

    /// <summary>
    /// Checks a code for a verification of one of <paramref name="purposes"/> (a code of another purpose is not
    /// there for this page): one try counted on the code, and one reserved on the account, before it is compared;
    /// the verification is used up when it matches.
    /// </summary>
    public async Task<VerificationResult> VerifyAsync(
        string? secret, string? code, IReadOnlyCollection<EmailVerificationPurpose> purposes, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return VerificationResult.Fail(Expired);
        }

        var id = KeyOf(secret);
        var now = time.GetUtcNow();
        var counted = await Live(id, now).Where(v => v.Attempts < MaxAttempts && purposes.Contains(v.Purpose))
            .ExecuteUpdateAsync(set => set.SetProperty(v => v.Attempts, v => v.Attempts + 1), cancellationToken);
        if (counted != 1)
        {
            return VerificationResult.Fail(Expired);
        }

        var row = await db.EmailVerifications.AsNoTracking().SingleAsync(v => v.Id == id, cancellationToken);
        if (row.UserId is not null && await attempts.TryReserveAsync(AccountKey(row.UserId), AccountPolicy, cancellationToken) is not null)
        {
            return VerificationResult.Fail(TooManyForAccount);
        }

        var normalized = Normalize(code);
        if (normalized is null || row.UserId is null || !CryptographicOperations.FixedTimeEquals(HashOf(id, normalized), row.CodeHash))
        {
            if (row.UserId is not null)
            {
                await attempts.RecordFailureAsync(AccountKey(row.UserId), AccountPolicy, cancellationToken);
            }

            return VerificationResult.Fail(row.Attempts >= MaxAttempts ? Expired : WrongCode);
        }

        await attempts.ReleaseAsync(AccountKey(row.UserId), cancellationToken);
        var consumed = await Live(id, now).ExecuteUpdateAsync(set => set.SetProperty(v => v.ConsumedAt, now), cancellationToken);
        return consumed == 1
            ? new VerificationResult(row.UserId, row.Purpose, row.Email, row.ReturnUrl, null)
            : VerificationResult.Fail(Expired);
    }

    public static void AppendCookie(HttpContext context, string secret, DateTimeOffset expiresAt) => SecretCookies.Append(context, CookieName, secret, expiresAt);

    public static string? ReadCookie(HttpContext context) => SecretCookies.Read(context, CookieName);

    public static void DeleteCookie(HttpContext context) => SecretCookies.Delete(context, CookieName);

    /// <summary>Six digits from what was typed (full-width digits and spaces allowed), or null.</summary>
    public static string? Normalize(string? input)
    {
        if (input is null || input.Length > 32)
        {
            return null;
        }

        var digits = new string([.. input.Normalize(NormalizationForm.FormKC).Where(c => !char.IsWhiteSpace(c) && c != '-')]);
        return digits.Length == 6 && digits.All(char.IsAsciiDigit) ? digits : null;
    }

    private IQueryable<EmailVerification> Live(string id, DateTimeOffset now) =>
        db.EmailVerifications.Where(v => v.Id == id && v.ConsumedAt == null && v.ExpiresAt > now);

    private OutgoingEmail CodeEmail(EmailVerificationPurpose purpose, string email, string code) => template.Create(
        email,
        purpose == EmailVerificationPurpose.ChangeEmail ? "Confirm your new email address" : "Verify your email address",
        [
            $"Your code is {code}. It works once, for {Lifetime.TotalMinutes.ToString(CultureInfo.InvariantCulture)} minutes, in the browser where you asked for it.",
            purpose == EmailVerificationPurpose.ChangeEmail
                ? "Enter it on the email page of your account to make this your account's address."
                : "Enter it on the page that asked for it to finish signing up.",
            "If you did not ask for this, ignore this email: nothing changes without the code.",
        ],
        new EmailAction("Open the page", links.Absolute(purpose == EmailVerificationPurpose.ChangeEmail ? EmailChangePath : VerifyPath)));

    public const string EmailChangePath = "/account/email";

    /// <summary>The note to the owner of the account <paramref name="typedEmail"/> names (at the address the account stores).</summary>
    private async Task<OutgoingEmail> AlreadyRegisteredAsync(string typedEmail, CancellationToken cancellationToken)
    {
        var normalized = normalizer.NormalizeEmail(typedEmail);
        var owner = await db.Users.AsNoTracking().Where(u => u.NormalizedEmail == normalized).Select(u => u.Email).FirstOrDefaultAsync(cancellationToken) ?? typedEmail;
        var actor = await actors.DescribeAsync(cancellationToken);
        return template.Create(
            owner,
            "Someone tried to sign up with your address",
            [
                "Someone tried to create a new account with this email address. You already have an account, so no new one was made and nothing was changed.",
                "If it was you, log in instead, or reset your password if you forgot it. If it wasn't you, you can ignore this email.",
            ],
            new EmailAction("Log in", links.Absolute(LoginPage.Path)),
            [
                new EmailFact("When", time.GetUtcNow().UtcDateTime.ToString("d MMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture)),
                new EmailFact("Browser or app", actor.Device),
                new EmailFact("IP address", actor.Ip ?? "unknown"),
            ]);
    }

    private static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);

    private static string KeyOf(string secret) => System.Buffers.Text.Base64Url.EncodeToString(SecretTokens.Hash(secret));

    private static byte[] HashOf(string id, string code) => SHA256.HashData(Encoding.UTF8.GetBytes($"{id}:{code}"));
}

/// <summary>What the verification page shows.</summary>
/// <param name="CanResend">Whether "send a new code" may still be used.</param>
public sealed record PendingVerification(EmailVerificationPurpose Purpose, string Email, DateTimeOffset ExpiresAt, bool CanResend);

/// <param name="UserId">The account whose address was verified.</param>
/// <param name="Email">The verified address.</param>
public sealed record VerificationResult(string? UserId, EmailVerificationPurpose Purpose, string? Email, string? ReturnUrl, string? Error)
{
    public bool Succeeded => Error is null;

    public static VerificationResult Fail(string error) => new(null, EmailVerificationPurpose.SignUp, null, null, error);
}
