// The browser side of passkey ceremonies, and of the Signal API (at the end). create and get take the
// options JSON the server built and resolve to { ok: true, credential: "<PublicKeyCredential.toJSON() as a
// string>" } or to { ok: false, name, message }: Blazor's JSException would keep only the message, and the
// page must tell a cancelled dialog (NotAllowedError) from a real failure.

const toBase64Url = buffer => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const fromBase64Url = text => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
    return Uint8Array.from(atob(base64), c => c.charCodeAt(0));
};

// WebIDL rejects null for enum members (e.g. authenticatorAttachment); the server may send nulls.
const withoutNulls = value => {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
    }
    return value;
};

const decodeDescriptors = list => (list || []).map(c => ({ ...c, id: fromBase64Url(c.id) }));

function creationOptions(json) {
    const options = withoutNulls(JSON.parse(json));
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(options);
    return {
        ...options,
        challenge: fromBase64Url(options.challenge),
        user: { ...options.user, id: fromBase64Url(options.user.id) },
        excludeCredentials: decodeDescriptors(options.excludeCredentials),
    };
}

function requestOptions(json) {
    const options = withoutNulls(JSON.parse(json));
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(options);
    return { ...options, challenge: fromBase64Url(options.challenge), allowCredentials: decodeDescriptors(options.allowCredentials) };
}

function toJson(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const response = credential.response;
    const json = {
        id: credential.id,
        rawId: toBase64Url(credential.rawId),
        type: credential.type,
        authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
        clientExtensionResults: credential.getClientExtensionResults(),
        response: { clientDataJSON: toBase64Url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
        json.response.attestationObject = toBase64Url(response.attestationObject);
        json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
        json.response.authenticatorData = toBase64Url(response.authenticatorData);
        json.response.signature = toBase64Url(response.signature);
        json.response.userHandle = response.userHandle ? toBase64Url(response.userHandle) : null;
    }
    return json;
}

// The dialog this page opened last; a new ceremony, or the server giving up on one, closes it.
let pending = null;

// The last Signal API call made (see signal below); ceremonies wait for it (see run).
let signalling = Promise.resolve();

export function abort() {
    pending?.abort();
    pending = null;
}

async function run(ceremony, maxLength) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
        return { ok: false, name: "NotSupportedError", message: "This browser does not support passkeys." };
    }
    abort();
    const controller = new AbortController();
    pending = controller;
    // A signal still on its way is delivered first: a passkey manager busy with it must not see the new ceremony
    // overlap it, and a list sent before a passkey was added must not arrive after it.
    await signalling;
    if (controller.signal.aborted) return { ok: false, name: "AbortError", message: "Another passkey request started." };
    const started = performance.now();
    try {
        const credential = await ceremony(controller.signal);
        if (!credential) return { ok: false, name: "NotAllowedError", message: "No passkey was chosen." };
        const text = JSON.stringify(toJson(credential));
        if (text.length > maxLength) return { ok: false, name: "DataError", message: "The passkey's answer is too large." };
        return { ok: true, credential: text };
    } catch (error) {
        let name = error?.name || "Error";
        // Some browsers only open the dialog after a click: an instant refusal without any prior
        // user activation means "ask for a click", not "cancelled".
        if (name === "NotAllowedError" && performance.now() - started < 250
            && navigator.userActivation && !navigator.userActivation.hasBeenActive) {
            name = "UserActivationRequired";
        }
        return { ok: false, name, message: String(error?.message || error) };
    } finally {
        if (pending === controller) pending = null;
    }
}

export function create(optionsJson, maxLength) {
    return run(signal => navigator.credentials.create({ publicKey: creationOptions(optionsJson), signal }), maxLength);
}

export function get(optionsJson, maxLength) {
    return run(signal => navigator.credentials.get({ publicKey: requestOptions(optionsJson), signal }), maxLength);
}

// Passkey autofill (conditional mediation, WebAuthn L3 §5.1.4.1 and Credential Management's "conditional"): resolves
// when the person picks a passkey among the suggestions of a field marked autocomplete="username webauthn". Any other
// ceremony this module starts aborts it (AbortError). Browsers without it get NotSupportedError and nothing opens.
export async function getConditional(optionsJson, maxLength) {
    if (!window.PublicKeyCredential?.isConditionalMediationAvailable || !(await PublicKeyCredential.isConditionalMediationAvailable())) {
        return { ok: false, name: "NotSupportedError", message: "This browser does not offer passkeys as autofill." };
    }
    return run(signal => navigator.credentials.get({ publicKey: requestOptions(optionsJson), signal, mediation: "conditional" }), maxLength);
}

// The WebAuthn Signal API (WebAuthn L3 §5.1.10): tells the browser's passkey managers what the portal knows, so
// that a deleted passkey stops being offered and a passkey shows the account's current address. Each function
// resolves to "sent", "unsupported" (this browser has no such method: nothing happens) or the name of the error
// the browser rejected the call with; none ever throws, so neither the page nor Blazor sees a failure.
async function signal(method, options) {
    const api = globalThis.PublicKeyCredential;
    if (typeof api?.[method] !== "function") return "unsupported";
    try {
        const sent = api[method](options);
        signalling = sent.catch(() => { });
        await sent;
        return "sent";
    } catch (error) {
        return error?.name || "Error";
    }
}

export function signalUnknownCredential({ rpId, credentialId }) {
    return signal("signalUnknownCredential", { rpId, credentialId });
}

export function signalAllAcceptedCredentials({ rpId, userId, allAcceptedCredentialIds }) {
    return signal("signalAllAcceptedCredentials", { rpId, userId, allAcceptedCredentialIds });
}

export function signalCurrentUserDetails({ rpId, userId, name, displayName }) {
    return signal("signalCurrentUserDetails", { rpId, userId, name, displayName });
}
