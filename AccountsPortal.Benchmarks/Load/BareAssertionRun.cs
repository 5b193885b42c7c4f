using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using AccountsPortal.Features.Passkeys;
using Fido2NetLib;
using Fido2NetLib.Objects;

namespace AccountsPortal.Benchmarks.Load;

/// <summary>
/// The floor under the HTTP step: Fido2NetLib's <c>MakeAssertionAsync</c> alone, in this process, over N tasks for
/// T seconds, on the same inputs — the seeded accounts' stored ES256 public keys, options made by
/// <c>GetAssertionOptions</c> as the portal makes them (one allowed credential, user verification preferred), and
/// answers signed by the same software authenticators. Options and answers are parsed before the clock starts.
/// </summary>
public static class BareAssertionRun
{
    /// <summary>Signs one answer per account, then verifies them round-robin on <paramref name="tasks"/> tasks for <paramref name="duration"/>.</summary>
    public static async Task<ResultRow> RunAsync(IReadOnlyList<SeededUser> users, int tasks, TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(users);
        var fido2 = new Fido2(PasskeyRelyingParty.Configuration(new PasskeyOptions
        {
            RelyingPartyId = "localhost",
            Origins = [PortalCluster.PublicOrigin],
        }));
        var inputs = users.Select(user => Prepare(fido2, user)).ToArray();

        // One verification each to load and JIT everything before the clock starts.
        foreach (var input in inputs.Take(Math.Max(1, tasks)))
        {
            await fido2.MakeAssertionAsync(input);
        }

        var cpuBefore = Environment.CpuUsage.TotalTime;
        var started = Stopwatch.GetTimestamp();
        var end = started + LoadRun.Ticks(duration);
        var workers = Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            var latencies = new List<double>();
            var failures = 0;
            for (var i = t; Stopwatch.GetTimestamp() < end; i += tasks)
            {
                var before = Stopwatch.GetTimestamp();
                try
                {
                    await fido2.MakeAssertionAsync(inputs[i % inputs.Length]);
                    latencies.Add(Stopwatch.GetElapsedTime(before).TotalMilliseconds);
                }
                catch (Exception exception) when (exception is Fido2VerificationException or CryptographicException)
                {
                    failures++;
                }
            }

            return (latencies, failures);
        })).ToList();
        var results = await Task.WhenAll(workers);
        var wall = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpu = (Environment.CpuUsage.TotalTime - cpuBefore).TotalSeconds / wall;
        var failed = results.Sum(r => r.failures);
        var errors = failed == 0
            ? new Dictionary<string, int>(StringComparer.Ordinal)
            : new Dictionary<string, int>(StringComparer.Ordinal) { ["Fido2VerificationException"] = failed };
        var verified = results.Sum(r => r.latencies.Count);
        // Per core by the CPU time this process used: the machine is shared with the other work on it.
        var perCore = verified / (cpu * wall);
        return new ResultRow(
            "in-process MakeAssertionAsync (no HTTP, no database)",
            tasks,
            wall,
            verified,
            LatencySummary.Of(results.SelectMany(r => r.latencies)),
            errors,
            double.NaN,
            cpu,
            $"{perCore:F0} verifications per CPU-second used (per core); ES256, {inputs.Length} keys");
    }

    private static MakeAssertionParams Prepare(Fido2 fido2, SeededUser user)
    {
        var options = fido2.GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = [PasskeyRelyingParty.Descriptor(user.CredentialId, "internal,hybrid")],
            UserVerification = UserVerificationRequirement.Preferred,
        });
        var optionsJson = options.ToJson();
        var answer = JsonSerializer.Deserialize<AuthenticatorAssertionRawResponse>(user.Authenticator.GetAssertion(optionsJson))
            ?? throw new InvalidOperationException("The authenticator's answer did not parse.");
        var userHandle = PasskeyRelyingParty.UserHandleOf(user.UserId);
        return new MakeAssertionParams
        {
            AssertionResponse = answer,
            OriginalOptions = AssertionOptions.FromJson(optionsJson),
            StoredPublicKey = user.PublicKey,
            // The counter the authenticator just sent is ahead of anything stored: 0 (never checked) keeps every
            // repeated verification of the same answer valid.
            StoredSignatureCounter = 0,
            IsUserHandleOwnerOfCredentialIdCallback = (args, _) => Task.FromResult(
                CryptographicOperations.FixedTimeEquals(args.UserHandle, userHandle)
                && CryptographicOperations.FixedTimeEquals(args.CredentialId, user.CredentialId)),
        };
    }
}
