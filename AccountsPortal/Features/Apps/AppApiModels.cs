using System.Text.Json;

namespace AccountsPortal.Features.Apps;

public sealed record LoginRequest(string? Email, string? Password, string? ClientId, string? RedirectUri);

public sealed record TokenResponse(string Token, DateTimeOffset ExpiresAt);

/// <summary>A login that needs a second factor: open <see cref="VerifyUrl"/>, or verify through the API.</summary>
/// <param name="SessionSecret">Known only to the app: send it as the X-Session-Secret header on every call about this session.</param>
/// <param name="ApprovalNumber">
/// A two-digit number the app must show while the verify page is open: the page asks the person to pick
/// it among three before it offers the second factor, so a verify link sent to someone else is useless.
/// </param>
public sealed record SecondFactorRequired(string SessionId, string SecondFactor, string VerifyUrl, DateTimeOffset ExpiresAt, string SessionSecret, int ApprovalNumber);

public sealed record PendingResponse(string Status, DateTimeOffset ExpiresAt);

public sealed record CodeRequest(string? Code);

public sealed record PasskeyRequest(JsonElement Credential);

/// <summary>Options for signing in with a passkey alone, for the app <paramref name="ClientId"/>.</summary>
public sealed record PasskeySignInOptionsRequest(string? ClientId);

/// <summary>A passkey sign-in answer (<c>PublicKeyCredential.toJSON()</c> shape) for the app <paramref name="ClientId"/>; its challenge names the options it answers.</summary>
public sealed record PasskeySignInRequest(string? ClientId, JsonElement Credential);

public sealed record MeResponse(string Id, string Email, DateTimeOffset CreatedAt, IReadOnlyList<string> SecondFactors, string ClientId);
