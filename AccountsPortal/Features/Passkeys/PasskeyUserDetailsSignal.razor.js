// Sends the signal a PasskeyUserDetailsSignal element describes (WebAuthn L3 §5.1.10.3), once per element: when
// the page loads and after Blazor's enhanced navigation. Where the browser has no Signal API, or rejects the
// call, nothing happens.
import { signalCurrentUserDetails } from "./Passkeys.razor.js";

function sendPending() {
    for (const element of document.querySelectorAll("[data-passkey-signal='current-user-details']:not([data-signal-outcome])")) {
        element.dataset.signalOutcome = "pending";
        const { rpId, userId, name, displayName } = element.dataset;
        signalCurrentUserDetails({ rpId, userId, name, displayName }).then(outcome => element.dataset.signalOutcome = outcome);
    }
}

sendPending();
window.Blazor?.addEventListener?.("enhancedload", sendPending);
