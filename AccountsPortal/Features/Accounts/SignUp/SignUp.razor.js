// A visible password strength hint for the sign-up form. Event delegation on the document, so it
// keeps working after Blazor's enhanced navigation swaps the page content.
const levels = ["Too short", "Weak", "Fair", "Strong", "Very strong"];

function score(password, minLength) {
    if (password.length < minLength) return 0;
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(re => re.test(password)).length;
    const unique = new Set(password).size;
    let points = 1;
    if (password.length >= minLength + 4) points++;
    if (password.length >= minLength + 10 || (classes >= 3 && password.length >= minLength + 2)) points++;
    if (unique >= 10 && (classes >= 2 || password.length >= 24)) points++;
    return Math.min(points, 4);
}

document.addEventListener("input", event => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.dataset.strengthMeter) return;
    const meter = document.getElementById(input.dataset.strengthMeter);
    if (!meter) return;
    const value = score(input.value, Number(input.dataset.minLength || 12));
    meter.textContent = input.value ? `Strength: ${levels[value]}` : "";
    meter.dataset.level = String(value);
});
