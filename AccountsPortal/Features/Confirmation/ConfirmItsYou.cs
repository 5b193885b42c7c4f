using MudBlazor;

namespace AccountsPortal.Features.Confirmation;

/// <summary>
/// What an interactive page calls before a security change: true at once when this browser confirmed (or
/// signed in) within the reauthentication window, otherwise after "Confirm it's you" succeeded in a dialog
/// over the page; false when the person cancelled. The service that makes the change checks again
/// (<see cref="Accounts.Sessions.RecentConfirmation"/>): this is for the person, not the rule.
/// </summary>
public sealed class ConfirmItsYou(Confirmations confirmations, IDialogService dialogs)
{
    /// <param name="action">Completes "confirm it's you before you …", e.g. "delete this passkey".</param>
    /// <param name="recoveryKeyAllowed">Offer the recovery key instead (deleting the last passkey, turning the authenticator app off).</param>
    public async Task<bool> EnsureAsync(string userId, string? browserSessionId, string action, bool recoveryKeyAllowed = false)
    {
        if (string.IsNullOrEmpty(browserSessionId))
        {
            return false;
        }

        if (await confirmations.IsFreshAsync(userId, browserSessionId))
        {
            return true;
        }

        var dialog = await dialogs.ShowAsync<ConfirmItsYouDialog>("Confirm it's you", new DialogParameters<ConfirmItsYouDialog>
        {
            { d => d.Action, action },
            { d => d.UserId, userId },
            { d => d.BrowserSessionId, browserSessionId },
            { d => d.RecoveryKeyAllowed, recoveryKeyAllowed },
        }, new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true, BackdropClick = false });
        var result = await dialog.Result;
        return result is { Canceled: false, Data: true };
    }
}
