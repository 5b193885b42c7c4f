using System.Data.Common;
using System.Globalization;
using System.Text;
using AccountsPortal.Features.Accounts.Attempts;
using AccountsPortal.Features.Activity;
using AccountsPortal.Tests.TestSupport;
using Microsoft.EntityFrameworkCore;

namespace AccountsPortal.Tests.Attacks;

/// <summary>
/// Every row of every table of a portal's database, as text, to show that a refused attack changed nothing:
/// accounts (security stamp, lockout, TOTP state), recovery key hashes, passkeys (counters, flags), browser and
/// login sessions, ceremonies, attempt counters, app logins, codes and tokens, security events and queued emails.
/// Four tables are left out on purpose: the migrations history and its lock; the Data Protection key ring, which the
/// first request to protect anything creates whatever it is (it holds no account's state); and the per-account rate
/// windows, which count every attempt, refused or not, by design (what limits the attacker; they hold no account's
/// state either, and <c>RateLimitTests</c> check them).
/// </summary>
public sealed class DatabaseState
{
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal) { "__EFMigrationsHistory", "__EFMigrationsLock", "DataProtectionKeys", "RateWindows" };

    // Which emails exist is the database's state; whether the outbox worker has sent one yet is the worker's, and it
    // may send one in the background between two captures.
    private static readonly HashSet<string> DeliveryColumns = new(StringComparer.Ordinal)
    {
        "OutboxMessages.SentAt", "OutboxMessages.Attempts", "OutboxMessages.LockedUntil", "OutboxMessages.NextAttemptAt",
        "OutboxMessages.LastError", "OutboxMessages.FailedAt",
    };

    private readonly SortedDictionary<string, SortedDictionary<string, Row>> tables;

    private DatabaseState(SortedDictionary<string, SortedDictionary<string, Row>> tables)
    {
        this.tables = tables;
    }

    /// <summary>The tables read, with their row counts: "Passkeys=3", ...</summary>
    public IEnumerable<string> RowCounts => tables.Select(t => $"{t.Key}={t.Value.Count}");

    /// <summary>Reads every table of <paramref name="app"/>'s database in one transaction.</summary>
    public static Task<DatabaseState> CaptureAsync(PortalAppFactory app) => app.WithDbAsync(async db =>
    {
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync();
        try
        {
            await using var transaction = await connection.BeginTransactionAsync();
            var names = new List<string>();
            await using (var command = Command(connection, transaction, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    names.Add(reader.GetString(0));
                }
            }

            var tables = new SortedDictionary<string, SortedDictionary<string, Row>>(StringComparer.Ordinal);
            foreach (var name in names.Where(n => !Ignored.Contains(n)))
            {
                tables[name] = await ReadTableAsync(connection, transaction, name);
            }

            return new DatabaseState(tables);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    });

    /// <summary>Every row added, removed or changed since <paramref name="before"/>, one entry per row.</summary>
    public IReadOnlyList<RowChange> ChangesSince(DatabaseState before)
    {
        var changes = new List<RowChange>();
        foreach (var table in before.tables.Keys.Union(tables.Keys).Order(StringComparer.Ordinal))
        {
            var old = before.tables.GetValueOrDefault(table) ?? [];
            var now = tables.GetValueOrDefault(table) ?? [];
            foreach (var key in old.Keys.Union(now.Keys).Order(StringComparer.Ordinal))
            {
                var was = old.GetValueOrDefault(key);
                var @is = now.GetValueOrDefault(key);
                if (was is null || @is is null || !was.SameAs(@is))
                {
                    changes.Add(new RowChange(table, key, was?.Values, @is?.Values));
                }
            }
        }

        return changes;
    }

    /// <summary>Asserts that the database is now exactly as it was at <paramref name="before"/>.</summary>
    public static Task AssertUnchangedAsync(PortalAppFactory app, DatabaseState before) => AssertChangedOnlyAsync(app, before);

    /// <summary>
    /// Asserts that every change since <paramref name="before"/> is one of <paramref name="expected"/>, and that each
    /// expected change happened exactly once: what a refusal is meant to count, and nothing else.
    /// </summary>
    public static async Task AssertChangedOnlyAsync(PortalAppFactory app, DatabaseState before, params Expected[] expected)
    {
        var after = await CaptureAsync(app);
        var changes = after.ChangesSince(before);
        var unexpected = changes.Where(change => !expected.Any(e => e.Matches(change))).ToList();
        var missing = expected.Where(e => changes.Count(e.Matches) != (e.Optional ? Math.Min(1, changes.Count(e.Matches)) : 1)).ToList();
        if (unexpected.Count > 0 || missing.Count > 0)
        {
            var message = new StringBuilder("The database changed other than expected.");
            foreach (var change in unexpected)
            {
                message.Append("\n  unexpected: ").Append(change);
            }

            foreach (var expectation in missing)
            {
                message.Append("\n  expected once, found ").Append(changes.Count(expectation.Matches)).Append(": ").Append(expectation.Description);
            }

            message.Append("\n  rows before: ").Append(string.Join(", ", before.RowCounts));
            message.Append("\n  rows after:  ").Append(string.Join(", ", after.RowCounts));

            Assert.Fail(message.ToString());
        }
    }

    private static DbCommand Command(DbConnection connection, DbTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static async Task<SortedDictionary<string, Row>> ReadTableAsync(DbConnection connection, DbTransaction transaction, string table)
    {
        var keyColumns = new List<(int Order, string Name)>();
        await using (var info = Command(connection, transaction, $"SELECT name, pk FROM pragma_table_info('{table.Replace("'", "''", StringComparison.Ordinal)}')"))
        await using (var reader = await info.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                if (reader.GetInt32(1) > 0)
                {
                    keyColumns.Add((reader.GetInt32(1), reader.GetString(0)));
                }
            }
        }

        var rows = new SortedDictionary<string, Row>(StringComparer.Ordinal);
        var quoted = "\"" + table.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        await using (var select = Command(connection, transaction, $"SELECT rowid AS __rowid, * FROM {quoted}"))
        await using (var reader = await select.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var values = new SortedDictionary<string, string?>(StringComparer.Ordinal);
                for (var i = 1; i < reader.FieldCount; i++)
                {
                    if (!DeliveryColumns.Contains(table + "." + reader.GetName(i)))
                    {
                        values[reader.GetName(i)] = Text(reader.GetValue(i));
                    }
                }

                var key = keyColumns.Count == 0
                    ? "rowid " + Text(reader.GetValue(0))
                    : string.Join("|", keyColumns.OrderBy(k => k.Order).Select(k => values[k.Name]));
                rows[key] = new Row(values);
            }
        }

        return rows;
    }

    private static string? Text(object value) => value switch
    {
        DBNull => null,
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private sealed record Row(SortedDictionary<string, string?> Values)
    {
        public bool SameAs(Row other) => Values.Count == other.Values.Count && Values.All(v => other.Values.TryGetValue(v.Key, out var o) && o == v.Value);
    }
}

/// <summary>One row added (<see cref="Before"/> null), removed (<see cref="After"/> null) or changed.</summary>
public sealed record RowChange(string Table, string Key, IReadOnlyDictionary<string, string?>? Before, IReadOnlyDictionary<string, string?>? After)
{
    public bool IsAdded => Before is null;

    public bool IsRemoved => After is null;

    /// <summary>The columns whose value differs (every column of an added or removed row).</summary>
    public IReadOnlyList<string> ChangedColumns =>
        [.. (Before ?? After)!.Keys.Where(column => Before?.GetValueOrDefault(column) != After?.GetValueOrDefault(column))];

    /// <summary>The value of <paramref name="column"/> after the change, or before it for a removed row.</summary>
    public string? this[string column] => (After ?? Before)!.GetValueOrDefault(column);

    public string? Was(string column) => Before?.GetValueOrDefault(column);

    public override string ToString() =>
        IsAdded ? $"{Table}[{Key}] added {{{string.Join(", ", After!.Select(v => $"{v.Key}={v.Value ?? "null"}"))}}}"
        : IsRemoved ? $"{Table}[{Key}] removed"
        : $"{Table}[{Key}] {string.Join(", ", ChangedColumns.Select(c => $"{c}: {Before![c] ?? "null"} -> {After![c] ?? "null"}"))}";
}

/// <summary>A change a refusal is meant to make, described for the failure message.</summary>
public sealed record Expected(string Description, Func<RowChange, bool> Matches, bool Optional = false)
{
    /// <summary>
    /// The login session counted one or more failed attempts (and may have been closed by them), or — when parallel
    /// guesses were refused before reaching it — did not change at all.
    /// </summary>
    public static Expected FailedAttemptsMaybeCounted(string loginSessionId) => new(
        $"LoginSessions[{loginSessionId}].FailedAttempts raised, State perhaps Failed",
        change => change is { Table: "LoginSessions", IsAdded: false, IsRemoved: false } && change.Key == loginSessionId
            && change.ChangedColumns.All(c => c is "FailedAttempts" or "State") && change.ChangedColumns.Contains("FailedAttempts")
            && long.Parse(change["FailedAttempts"]!, CultureInfo.InvariantCulture) > long.Parse(change.Was("FailedAttempts")!, CultureInfo.InvariantCulture)
            && change["State"] is "Failed" or "AwaitingSecondFactor",
        Optional: true);

    /// <summary>The login session's failed-attempt counter went up by exactly one, and nothing else of it changed.</summary>
    public static Expected FailedAttemptCounted(string loginSessionId) => new(
        $"LoginSessions[{loginSessionId}].FailedAttempts + 1",
        change => change is { Table: "LoginSessions", IsAdded: false, IsRemoved: false } && change.Key == loginSessionId
            && change.ChangedColumns.SequenceEqual(["FailedAttempts"])
            && long.Parse(change["FailedAttempts"]!, CultureInfo.InvariantCulture) == long.Parse(change.Was("FailedAttempts")!, CultureInfo.InvariantCulture) + 1);

    /// <summary>The login session reached its failure limit: one more failed attempt, and it is closed (state Failed).</summary>
    public static Expected SessionClosedByFailures(string loginSessionId) => new(
        $"LoginSessions[{loginSessionId}] FailedAttempts + 1 and State -> Failed",
        change => change is { Table: "LoginSessions", IsAdded: false, IsRemoved: false } && change.Key == loginSessionId
            && change.ChangedColumns.Order(StringComparer.Ordinal).SequenceEqual(["FailedAttempts", "State"])
            && change["State"] == "Failed");

    /// <summary>
    /// A single-use ceremony (challenge) was used up: only its ConsumedAt went from null to a time. Identified by its
    /// id, or by the login or browser session it is bound to.
    /// </summary>
    public static Expected CeremonyConsumed(string? ceremonyId = null, string? boundTo = null) => new(
        $"PasskeyCeremonies[{ceremonyId ?? "bound to " + boundTo}].ConsumedAt set",
        change => change is { Table: "PasskeyCeremonies", IsAdded: false, IsRemoved: false }
            && (ceremonyId is null || change.Key == ceremonyId) && (boundTo is null || change["LoginSessionId"] == boundTo)
            && change.ChangedColumns.SequenceEqual(["ConsumedAt"]) && change.Was("ConsumedAt") is null);

    /// <summary>
    /// An assertion challenge was used up: its use was recorded, one new row, already consumed (<c>PasskeyCeremonies.TryUseAsync</c>).
    /// Identified by the challenge (the ceremony id handed out), or by the login or browser session it is bound to.
    /// </summary>
    public static Expected ChallengeUsed(string? challenge = null, string? boundTo = null) => new(
        $"PasskeyCeremonies[use of {challenge ?? "a challenge bound to " + boundTo}] added, consumed",
        change => change is { Table: "PasskeyCeremonies", IsAdded: true } && change["ConsumedAt"] is not null
            && (challenge is null || change.Key == Features.Passkeys.PasskeyChallenges.UseIdOf(System.Buffers.Text.Base64Url.DecodeFromChars(challenge)))
            && (boundTo is null || change["LoginSessionId"] == boundTo));

    /// <summary>
    /// One wrong guess counted against <paramref name="counterKey"/> (<see cref="AttemptLimits"/>): a new counter with
    /// one reserved, failed attempt, or an existing one with one more of each (a new window may start with it), not locked.
    /// </summary>
    public static Expected WrongGuessCounted(string counterKey) => new(
        $"AttemptCounters[{counterKey}] one more wrong guess, not locked",
        change => change is { Table: "AttemptCounters", IsRemoved: false } && change.Key == counterKey && change["LockedUntil"] is null
            && (change.IsAdded
                ? change["Failures"] == "1" && change["Reserved"] == "1"
                : change.ChangedColumns.Contains("Failures")
                    && (long.Parse(change["Failures"]!, CultureInfo.InvariantCulture) == long.Parse(change.Was("Failures")!, CultureInfo.InvariantCulture) + 1
                        || change["Failures"] == "1")));

    /// <summary>The guess that reached the limit: counted, and the key is now locked.</summary>
    public static Expected LockedBy(string counterKey) => new(
        $"AttemptCounters[{counterKey}] locked",
        change => change is { Table: "AttemptCounters", IsRemoved: false } && change.Key == counterKey
            && change["LockedUntil"] is not null && change.Was("LockedUntil") is null);

    /// <summary>A security event of <paramref name="kind"/> was recorded for the account (the owner sees every attempt).</summary>
    public static Expected Event(string userId, SecurityEventKind kind) => new(
        $"SecurityEvents + {kind} for {userId}",
        change => change is { Table: "SecurityEvents", IsAdded: true } && change["UserId"] == userId && change["Kind"] == kind.ToString());

    /// <summary>The passkey was marked as possibly copied (its counter did not move forward), and nothing else of it changed.</summary>
    public static Expected MarkedPossiblyCloned(string passkeyId) => new(
        $"Passkeys[{passkeyId}].PossiblyCloned -> 1",
        change => change is { Table: "Passkeys", IsAdded: false, IsRemoved: false } && change.Key == passkeyId
            && change.ChangedColumns.SequenceEqual(["PossiblyCloned"]) && change["PossiblyCloned"] == "1");

    /// <summary>An email was queued to <paramref name="to"/> (the owner is told of a lockout).</summary>
    public static Expected EmailQueued(string to) => new(
        $"OutboxMessages + email to {to}",
        change => change is { Table: "OutboxMessages", IsAdded: true } && string.Equals(change["To"], to, StringComparison.OrdinalIgnoreCase));
}
