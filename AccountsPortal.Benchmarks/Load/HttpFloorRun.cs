using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using AccountsPortal.Features.Passkeys;
using Fido2NetLib;
using Fido2NetLib.Objects;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>
/// The floor under the portal's HTTP step on this machine: the same clients, the same two routes and the same
/// Fido2NetLib calls, served by a bare Kestrel in this process with no database, no middleware and no logging.
/// Options are kept in memory and used once; each account's signature counter is kept in memory and must move
/// forward; the verify answer carries a random token. Whatever the portal does beyond this costs more than this row,
/// so a portal step can be no faster than it on the same machine. Server and driver share this process: their CPU is
/// the driver column.
/// </summary>
public static class HttpFloorRun
{
    /// <summary>The row's name in the results.</summary>
    public const string Name = "floor: bare Kestrel + Fido2NetLib, no database (in-process)";

    /// <summary>Serves the step from memory for the seeded logins and runs the load against it.</summary>
    public static async Task<ResultRow> RunAsync(SeededLogins seeded, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(seeded);
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        var relyingParty = new FloorRelyingParty(seeded);
        app.MapPost("/api/v1/login/{sessionId}/passkey/options", relyingParty.Options);
        app.MapPost("/api/v1/login/{sessionId}/passkey", relyingParty.VerifyAsync);
        await app.StartAsync();
        try
        {
            var address = app.Urls.Single();
            var row = await LoadRun.RunAsync([new Uri(address)], Name, seeded, options, serverProcessorTime: null);
            return row with { Note = row.Note + "; server and driver in one process: both are in the driver CPU column" };
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <summary>The two routes over in-memory state.</summary>
    private sealed class FloorRelyingParty
    {
        private readonly Fido2 fido2 = new(PasskeyRelyingParty.Configuration(new PasskeyOptions
        {
            RelyingPartyId = "localhost",
            Origins = [PortalCluster.PublicOrigin],
        }));

        private readonly Dictionary<string, SeededLogin> logins;
        private readonly ConcurrentDictionary<string, AssertionOptions> pending = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, uint> counters = new(StringComparer.Ordinal);

        public FloorRelyingParty(SeededLogins seeded) =>
            logins = seeded.Logins.DistinctBy(login => login.SessionId, StringComparer.Ordinal).ToDictionary(login => login.SessionId, StringComparer.Ordinal);

        public IResult Options(string sessionId, HttpRequest request)
        {
            if (Find(sessionId, request) is not { } login)
            {
                return Results.NotFound();
            }

            var options = fido2.GetAssertionOptions(new GetAssertionOptionsParams
            {
                AllowedCredentials = [PasskeyRelyingParty.Descriptor(login.User.CredentialId, "internal,hybrid")],
                UserVerification = UserVerificationRequirement.Preferred,
            });
            pending[sessionId] = options;
            return Results.Text(options.ToJson(), "application/json");
        }

        public async Task<IResult> VerifyAsync(string sessionId, HttpRequest request, CancellationToken cancellationToken)
        {
            if (Find(sessionId, request) is not { } login || !pending.TryRemove(sessionId, out var options))
            {
                return Results.NotFound();
            }

            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken);
            var answer = body.RootElement.GetProperty("credential").Deserialize<AuthenticatorAssertionRawResponse>()
                ?? throw new InvalidOperationException("No credential in the answer.");
            var user = login.User;
            var userHandle = PasskeyRelyingParty.UserHandleOf(user.UserId);
            var stored = counters.GetValueOrDefault(user.UserId);
            try
            {
                var verified = await fido2.MakeAssertionAsync(new MakeAssertionParams
                {
                    AssertionResponse = answer,
                    OriginalOptions = options,
                    StoredPublicKey = user.PublicKey,
                    StoredSignatureCounter = stored,
                    IsUserHandleOwnerOfCredentialIdCallback = (args, _) => Task.FromResult(
                        CryptographicOperations.FixedTimeEquals(args.UserHandle, userHandle)
                        && CryptographicOperations.FixedTimeEquals(args.CredentialId, user.CredentialId)),
                }, cancellationToken);

                // Each account belongs to one client at a time: the counter only moves forward.
                if (!counters.TryUpdate(user.UserId, verified.SignCount, stored) && !counters.TryAdd(user.UserId, verified.SignCount))
                {
                    return Results.Conflict();
                }
            }
            catch (Fido2VerificationException)
            {
                return Results.BadRequest();
            }

            var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
            return Results.Json(new { token, expiresAt = DateTimeOffset.UtcNow.AddHours(1) });
        }

        private SeededLogin? Find(string sessionId, HttpRequest request) =>
            logins.TryGetValue(sessionId, out var login)
            && request.Headers["X-Session-Secret"] is [{ } secret]
            && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(secret), System.Text.Encoding.UTF8.GetBytes(login.Secret))
                ? login
                : null;
    }
}
