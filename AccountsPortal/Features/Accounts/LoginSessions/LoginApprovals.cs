using AccountsPortal.Data;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Activity;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Features.Accounts.LoginSessions;

/// <summary>
/// Approving a login from a device that did not start it ("number matching"). A verify link opened
/// elsewhere shows what is asking and three numbers; only the number the signing-in device shows
/// unlocks the second factor there. A wrong pick or "This wasn't me" ends the login at once.
/// </summary>
public sealed class LoginApprovals(
    PortalDbContext db,
    AttemptRateLimiter rateLimiter,
    SecurityEvents events,
    IClientAppNames appNames,
    TimeProvider time,
    ILogger<LoginApprovals> logger)
{
    /// <summary>What a device asked to approve a live, unverified login is shown; null when there is nothing to approve.</summary>
    public async Task<ApprovalRequest?> DescribeAsync(string? sessionId, CancellationToken cancellationToken = default)
    {
        var session = await Awaiting(sessionId, time.GetUtcNow()).AsNoTracking()
            .Select(s => new { s.ClientId, s.RequestIp, s.RequestUserAgent, s.CreatedAt, s.ApprovalChoices, s.ApprovedAt })
            .SingleOrDefaultAsync(cancellationToken);
        return session is null
            ? null
            : new ApprovalRequest(
                session.ClientId,
                UserAgentName.Describe(session.RequestUserAgent),
                session.RequestIp ?? "an unknown address",
                session.CreatedAt,
                [.. session.ApprovalChoices.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)],
                session.ApprovedAt is not null);
    }

    /// <summary>
    /// The device's answer: <paramref name="pick"/> is the number it chose, or null for "This wasn't me".
    /// The right number approves this device (once per login: the returned secret goes in its approval
    /// cookie); anything else refuses the login and records a security event for the owner.
    /// </summary>
    public async Task<ApprovalDecision> DecideAsync(string? sessionId, int? pick, LoginRequester approver, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var session = await Awaiting(sessionId, now).AsNoTracking()
            .Select(s => new { s.Id, s.UserId, s.ApprovalNumber, s.ExpiresAt, s.RequestIp, s.RequestUserAgent, s.ClientId })
            .SingleOrDefaultAsync(cancellationToken);
        if (session is null)
        {
            return ApprovalDecision.Unavailable;
        }

        if (await rateLimiter.TryAcquireForAccountAsync(approver.Ip, session.UserId, cancellationToken) is { } wait)
        {
            return new ApprovalDecision(ApprovalOutcome.RateLimited, null, null, wait);
        }

        if (pick == session.ApprovalNumber)
        {
            var secret = SecretTokens.New();
            var hash = SecretTokens.Hash(secret);
            var approved = await Awaiting(session.Id, now)
                .Where(s => s.ApprovedAt == null && s.ApprovalNumber == pick)
                .ExecuteUpdateAsync(set => set.SetProperty(s => s.ApprovalHash, hash).SetProperty(s => s.ApprovedAt, now), cancellationToken);
            if (approved != 1)
            {
                // Approved on another device a moment ago: one device per login.
                return ApprovalDecision.Unavailable;
            }

            Activity.SecurityLog.LoginApproved(logger, session.UserId);
            return new ApprovalDecision(ApprovalOutcome.Approved, secret, session.ExpiresAt, null);
        }

        var refused = await Awaiting(session.Id, now)
            .ExecuteUpdateAsync(set => set.SetProperty(s => s.State, LoginSessionState.Refused), cancellationToken);
        if (refused != 1)
        {
            return ApprovalDecision.Unavailable;
        }

        var requester = session.ClientId is null ? UserAgentName.Describe(session.RequestUserAgent) : (appNames.NameOf(session.ClientId) ?? session.ClientId);
        await events.RecordAsync(session.UserId, SecurityEventKind.SignInApprovalBlocked,
            $"{requester} at {session.RequestIp ?? "an unknown address"}", cancellationToken);
        Activity.SecurityLog.LoginApprovalRefused(logger, session.UserId, pick is null ? "not me" : "wrong number");
        return ApprovalDecision.Refused;
    }

    /// <summary>The login, while it is live and still waits for its second factor: the only state a device may approve or refuse.</summary>
    private IQueryable<LoginSession> Awaiting(string? sessionId, DateTimeOffset now) =>
        db.LoginSessions.Where(s => s.Id == sessionId && s.State == LoginSessionState.AwaitingSecondFactor && s.ConsumedAt == null && s.ExpiresAt > now);
}

/// <summary>What a device asked to approve a login sees.</summary>
/// <param name="ClientId">The app that started the login, or null for a browser.</param>
/// <param name="Requester">The signing-in browser and OS, as parsed from its User-Agent ("Chrome on Linux").</param>
/// <param name="Ip">The address the password step came from.</param>
/// <param name="Choices">Three numbers in the order to show; one is the number on the signing-in device.</param>
/// <param name="AlreadyApproved">Another device already picked the right number.</param>
public sealed record ApprovalRequest(string? ClientId, string Requester, string Ip, DateTimeOffset StartedAt, IReadOnlyList<int> Choices, bool AlreadyApproved);

public enum ApprovalOutcome
{
    Approved,
    Refused,
    Unavailable,
    RateLimited,
}

/// <param name="Secret">For <see cref="ApprovalOutcome.Approved"/>: the approval cookie's value.</param>
public sealed record ApprovalDecision(ApprovalOutcome Outcome, string? Secret, DateTimeOffset? ExpiresAt, TimeSpan? RetryAfter)
{
    public static readonly ApprovalDecision Refused = new(ApprovalOutcome.Refused, null, null, null);
    public static readonly ApprovalDecision Unavailable = new(ApprovalOutcome.Unavailable, null, null, null);
}
