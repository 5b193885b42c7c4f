namespace AccountsPortal.Features.Activity;

/// <summary>
/// Told of every security event as it is recorded, in the same unit of work (and transaction, when the
/// caller has one): an email to the owner queued here commits or rolls back with the change itself.
/// </summary>
public interface ISecurityEventObserver
{
    Task OnRecordedAsync(SecurityEvent securityEvent, CancellationToken cancellationToken);
}
