// "Sign in with a passkey" on the login page (rendered only when Passkeys:PasskeySignIn is on): the button opens the
// passkey dialog, and the email field offers the device's passkeys as autofill (conditional mediation). Either way the
// answer goes to the server, which starts an already verified login and answers with the completion address.
// The page is static: this module is loaded on every page and looks for the [data-passkey-sign-in] block, again after
// each enhanced navigation.
import { get, getConditional } from "../../Passkeys/Passkeys.razor.js";

const genericFailure = "Signing in with a passkey did not work. Try again, or log in with your email and password.";

const token = () => document.querySelector("input[name=__RequestVerificationToken]")?.value ?? "";

async function post(url, body) {
    try {
        const response = await fetch(url, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "RequestVerificationToken": token() },
            body: JSON.stringify(body),
        });
        const json = await response.json().catch(() => null);
        return { ok: response.ok, json };
    } catch {
        return { ok: false, json: null };
    }
}

function show(block, message) {
    const status = block.querySelector("[data-passkey-sign-in-status]");
    if (!status) return;
    status.textContent = message ?? "";
    status.hidden = !message;
}

// The block the current ceremony belongs to: a new page (enhanced navigation) starts over.
let current = null;

// Whether this browser offers passkeys as autofill; asked before any options are requested, so a browser without it
// never makes the portal store a challenge it cannot answer.
async function autofillAvailable() {
    try {
        return typeof window.PublicKeyCredential?.isConditionalMediationAvailable === "function"
            && await PublicKeyCredential.isConditionalMediationAvailable();
    } catch {
        return false;
    }
}

async function signIn(block, conditional) {
    if (conditional && !(await autofillAvailable())) return;
    if (block !== current) return;
    const options = await post(block.dataset.optionsUrl, {});
    if (block !== current) return;
    if (!options.ok || !options.json?.options) {
        if (!conditional) show(block, options.json?.error ?? genericFailure);
        return;
    }

    const maxLength = Number(block.dataset.maxLength || 16384);
    const optionsJson = JSON.stringify(options.json.options);
    const answer = conditional ? await getConditional(optionsJson, maxLength) : await get(optionsJson, maxLength);
    if (block !== current) return;
    if (!answer.ok) {
        // Aborted: the button opened the dialog instead (or the page changed). Not supported: no autofill, that is all.
        if (answer.name === "AbortError" || (conditional && answer.name === "NotSupportedError")) return;
        if (!conditional) {
            show(block, answer.name === "NotAllowedError"
                ? "No passkey was used. Try again, or log in with your email and password."
                : genericFailure);
        }
        startAutofill(block);
        return;
    }

    show(block, null);
    const result = await post(block.dataset.signInUrl, {
        ceremonyId: options.json.ceremonyId,
        credential: JSON.parse(answer.credential),
        returnUrl: block.dataset.returnUrl || null,
    });
    if (block !== current) return;
    const next = result.json?.next;
    if (result.ok && typeof next === "string" && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\")) {
        location.assign(next);
        return;
    }

    const unknown = result.json?.unknownCredential;
    if (unknown?.credentialId && typeof PublicKeyCredential?.signalUnknownCredential === "function") {
        // The passkey manager forgets a passkey this site no longer has (WebAuthn L3 §5.1.10.1).
        PublicKeyCredential.signalUnknownCredential({ rpId: unknown.rpId, credentialId: unknown.credentialId }).catch(() => { });
    }
    show(block, result.json?.error ?? genericFailure);
    startAutofill(block);
}

// Autofill is offered again after a refusal, a few times per page: a person picks again, but an automated client
// (or an authenticator that answers by itself) must not loop through ceremonies.
const maxAutofillStarts = 4;
const autofillStarts = new WeakMap();

function startAutofill(block) {
    const starts = (autofillStarts.get(block) ?? 0) + 1;
    autofillStarts.set(block, starts);
    if (starts > maxAutofillStarts) return;
    signIn(block, true).catch(() => { });
}

function init() {
    const block = document.querySelector("[data-passkey-sign-in]");
    if (block === current) return;
    current = block;
    if (block) startAutofill(block);
}

document.addEventListener("click", event => {
    const button = event.target instanceof Element ? event.target.closest("[data-passkey-sign-in-button]") : null;
    const block = button?.closest("[data-passkey-sign-in]");
    if (!block) return;
    event.preventDefault();
    current = block;
    show(block, null);
    signIn(block, false).catch(() => show(block, genericFailure));
});

init();
window.Blazor?.addEventListener?.("enhancedload", init);
