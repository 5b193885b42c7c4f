// Copy and Download for the recovery key panel. Event delegation on the document, so it works on
// static and interactive pages and after enhanced navigation.
function announce(id, text) {
    const status = id && document.getElementById(id);
    if (status) status.textContent = text;
}

async function copy(button) {
    const text = button.dataset.copyText;
    try {
        await navigator.clipboard.writeText(text);
    } catch {
        // Clipboard API unavailable (e.g. permissions): fall back to a selected textarea.
        const area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.style.position = "fixed";
        area.style.opacity = "0";
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
    }
    announce(button.dataset.copyStatus, "Copied to the clipboard.");
}

function download(button) {
    const blob = new Blob([button.dataset.downloadText], { type: "text/plain;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = button.dataset.downloadName || "recovery-key.txt";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
}

document.addEventListener("click", event => {
    const target = event.target instanceof Element ? event.target : null;
    const copyButton = target?.closest("[data-copy-text]");
    if (copyButton) {
        event.preventDefault();
        copy(copyButton);
        return;
    }
    const downloadButton = target?.closest("[data-download-text]");
    if (downloadButton) {
        event.preventDefault();
        download(downloadButton);
    }
});
