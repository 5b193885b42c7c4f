using System.Runtime.InteropServices;

namespace AccountsPortal.Data;

/// <summary>
/// Group commit for SQLite in WAL mode (<see cref="SqliteCommitSync.Grouped"/>): a commit returns to its caller only
/// once the write-ahead log has been synced to disk after the commit's frames were written, as with
/// <c>synchronous=FULL</c>; but the sync runs after SQLite has given the write lock back, and one sync covers every
/// commit written before it began. The next writer commits while this one's frames reach the disk, and 32 callers
/// waiting for the disk wait for one or two syncs together instead of thirty-two in a row.
/// </summary>
/// <remarks>
/// <para>
/// How. Connections run with <c>synchronous=NORMAL</c>: SQLite writes a commit's frames to the log (the operating
/// system's cache) and syncs the log only at checkpoints. Then, in the WAL hook, which SQLite calls after each commit
/// with the write lock released (<see cref="SqliteBusyHandler"/>), the committing thread waits here until a sync that
/// began after its frames were written has finished: the first to arrive while no sync runs becomes the leader and
/// syncs the log through SQLite's own file (<c>SQLITE_FCNTL_JOURNAL_POINTER</c>, then the VFS's <c>xSync</c> with
/// <c>SQLITE_SYNC_NORMAL</c>, the call <c>synchronous=FULL</c> makes at a commit); those that arrive meanwhile wait
/// for it, and one of those still not covered leads the next. A sync of a file flushes every write to it, by any
/// connection or process, so a leader's sync covers all commits counted before it began.
/// </para>
/// <para>
/// What an acknowledgement means does not change: a write the portal answered for survives a power cut.
/// </para>
/// <para>
/// A sync that fails stops the process (<see cref="Environment.FailFast(string)"/>), as PostgreSQL stops on a failed
/// sync of its log: the commits it covered are already visible and cannot be undone, and after a failed sync the
/// operating system may have dropped the log's unwritten pages, so a later sync could succeed over a hole that SQLite's
/// recovery stops at, taking later, acknowledged commits with it. A restart recovers from what is on disk. (Under
/// <see cref="SqliteCommitSync.PerCommit"/>, SQLite fails that commit with <c>SQLITE_IOERR</c> and carries on.)
/// </para>
/// <para>
/// What does change: under <c>synchronous=FULL</c>, SQLite makes a commit visible to other connections only after its
/// sync; here, other connections can read it during the sync its own caller waits for (about a third of a
/// millisecond). A write that follows such a read and changes something is synced no earlier than that sync, so it is
/// not acknowledged before the commit it read is on disk; a reply built only from reads (a status poll), or from a
/// write that changed nothing (an <c>ON CONFLICT DO NOTHING</c> that met a row, an update that matched none: no commit,
/// so no wait), may, for that moment, report a commit a power cut then takes back, as a refused or expired step would.
/// </para>
/// <para>
/// Only commits SQLite reports to the WAL hook wait: those of a transaction's <c>COMMIT</c> and of a statement stepped
/// to its end. A write that returns rows (<c>… RETURNING</c>) outside a transaction commits when its reader is disposed,
/// without the hook: the portal's SQLite context saves in a transaction (<see cref="SqlitePortalDbContext"/>), and
/// <see cref="SqliteReturningGuard"/> refuses such raw SQL. A checkpoint (in the hook) that fails with an I/O error
/// stops the process as a failed sync does: its sync of the log is the first over other commits' frames. A sync that
/// never returns holds its waiters, as it would hold the committing writer, and with it the lock, under
/// <c>synchronous=FULL</c>.
/// </para>
/// </remarks>
public sealed class SqliteGroupSync
{
    private const int SqliteOk = 0;
    private const int SqliteIoError = 10;
    private const int FileControlJournalPointer = 28;
    private const int SyncNormal = 0x02;
    private const string MainSchema = "main";

    // sqlite3_io_methods: int iVersion, then xClose, xRead, xWrite, xTruncate, xSync: a pointer's size each, aligned.
    private static readonly int SyncMethodOffset = IntPtr.Size * 5;

    // One group per database file for the life of the process, and the handle the WAL hook is given for it.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, SqliteGroupSync> Groups = new(StringComparer.Ordinal);

    private readonly object gate = new();
    private long counted;
    private long syncedThrough;
    private SyncRound? running;
    private long syncs;
    private VfsSync? sync;

    private SqliteGroupSync(string path)
    {
        Path = path;
        Handle = GCHandle.ToIntPtr(GCHandle.Alloc(this));
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int SyncMethod(IntPtr file, int flags);

    /// <summary>The database file (full path) whose commits this group syncs.</summary>
    public string Path { get; }

    /// <summary>What the WAL hook is given to find this group again (a GC handle kept for the life of the process).</summary>
    internal IntPtr Handle { get; }

    /// <summary>Commits counted so far on this file in this process (each waited here once).</summary>
    internal long Commits
    {
        get
        {
            lock (gate)
            {
                return counted;
            }
        }
    }

    /// <summary>The highest commit number a finished, successful sync covers.</summary>
    internal long SyncedThrough
    {
        get
        {
            lock (gate)
            {
                return syncedThrough;
            }
        }
    }

    /// <summary>Syncs of the log finished (successful or not).</summary>
    internal long Syncs
    {
        get
        {
            lock (gate)
            {
                return syncs;
            }
        }
    }

    /// <summary>
    /// Tests only: a non-zero SQLite error code that every sync of this group reports instead of syncing; such a failure
    /// is returned to the statements the sync covered (SQLite reports it as <c>SQLITE_ERROR</c>) instead of stopping the
    /// process.
    /// </summary>
    internal int FailSyncsWith { get; set; }

    /// <summary>Tests only: run by the leader before each sync, outside the group's lock (to make a sync take long).</summary>
    internal Action? BeforeSync { get; set; }

    /// <summary>The group of a database file; <paramref name="path"/> is made absolute, so two spellings of one path share it.</summary>
    public static SqliteGroupSync For(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Groups.GetOrAdd(System.IO.Path.GetFullPath(path), full => new SqliteGroupSync(full));
    }

    /// <summary>The group behind a handle <see cref="Handle"/> gave out.</summary>
    internal static SqliteGroupSync FromHandle(IntPtr handle) => (SqliteGroupSync)GCHandle.FromIntPtr(handle).Target!;

    /// <summary>
    /// Called by the WAL hook on the committing thread, after the commit and with the write lock released: returns once
    /// a sync of the log that began after this commit's frames were written has finished.
    /// </summary>
    /// <param name="db">The committing connection's <c>sqlite3*</c>; its log file is the one synced when this caller leads.</param>
    /// <param name="schema">The committed database's schema name as SQLite passes it to the hook (<c>main</c>; an attached
    /// database, which the portal never has, is synced on its own, outside the group, which is the main file's).</param>
    /// <returns><c>SQLITE_OK</c>, or (tests only, <see cref="FailSyncsWith"/>) the error of the sync that covered this commit, which the hook returns to SQLite.</returns>
    internal int WaitUntilDurable(IntPtr db, IntPtr schema)
    {
        if (!IsMain(schema))
        {
            var name = Marshal.PtrToStringUTF8(schema) ?? MainSchema;
            var result = SyncLog(db, name);
            if (result != SqliteOk)
            {
                SyncFailed(result, $"the log of its attached database '{name}'");
            }

            return result;
        }

        Monitor.Enter(gate);
        try
        {
            var mine = ++counted;
            while (true)
            {
                if (mine <= syncedThrough)
                {
                    return SqliteOk;
                }

                if (running is { } round)
                {
                    if (mine <= round.Through)
                    {
                        // Counted before this sync began: its outcome is this commit's.
                        while (!round.Done)
                        {
                            Monitor.Wait(gate);
                        }

                        return round.Result;
                    }

                    Monitor.Wait(gate);
                    continue;
                }

                // Lead: every commit counted so far had written its frames before it was counted.
                var leading = new SyncRound(counted);
                running = leading;
                var result = SqliteIoError;
                Monitor.Exit(gate);
                try
                {
                    BeforeSync?.Invoke();
                    if (FailSyncsWith != 0)
                    {
                        result = FailSyncsWith;
                    }
                    else
                    {
                        result = SyncLog(db, MainSchema);
                        if (result != SqliteOk)
                        {
                            SyncFailed(result, "its write-ahead log");
                        }
                    }
                }
                finally
                {
                    Monitor.Enter(gate);
                    (leading.Result, leading.Done, running) = (result, true, null);
                    syncs++;
                    if (result == SqliteOk)
                    {
                        syncedThrough = Math.Max(syncedThrough, leading.Through);
                    }

                    Monitor.PulseAll(gate);
                }

                return result;
            }
        }
        finally
        {
            Monitor.Exit(gate);
        }
    }

    // "main\0", read without making a string on every commit.
    private static bool IsMain(IntPtr schema) =>
        schema != IntPtr.Zero && Marshal.ReadByte(schema) == (byte)'m' && Marshal.ReadByte(schema, 1) == (byte)'a'
        && Marshal.ReadByte(schema, 2) == (byte)'i' && Marshal.ReadByte(schema, 3) == (byte)'n' && Marshal.ReadByte(schema, 4) == 0;

    /// <summary>
    /// Stops the process after a failed sync of <see cref="Path"/>'s log (or a checkpoint that failed with an I/O error):
    /// commits it covered are visible already, and after a failed sync the kernel may have dropped the log's unwritten
    /// pages, so a later sync could succeed over them. A restart recovers from what is on disk.
    /// </summary>
    /// <param name="error">SQLite's (extended) result code.</param>
    /// <param name="what">What could not be synced, for the message.</param>
    internal void SyncFailed(int error, string what) =>
        Environment.FailFast(
            $"The database {Path} could not sync {what} to disk (SQLite error {error}). The portal stops so that nothing more is " +
            "acknowledged; a restart recovers the database from what is on disk.");

    // The connection's own log file, synced as SQLite syncs it at a commit under synchronous=FULL. The VFS's xSync is
    // turned into a delegate once and kept (one reference, replaced whole).
    private int SyncLog(IntPtr db, string schema)
    {
        var file = IntPtr.Zero;
        var result = sqlite3_file_control(db, schema, FileControlJournalPointer, ref file);
        if (result != SqliteOk)
        {
            return result;
        }

        var methods = file == IntPtr.Zero ? IntPtr.Zero : Marshal.ReadIntPtr(file);
        if (methods == IntPtr.Zero)
        {
            return SqliteIoError;
        }

        var pointer = Marshal.ReadIntPtr(methods, SyncMethodOffset);
        var known = Volatile.Read(ref sync);
        if (known is null || known.Pointer != pointer)
        {
            known = new VfsSync(pointer, Marshal.GetDelegateForFunctionPointer<SyncMethod>(pointer));
            Volatile.Write(ref sync, known);
        }

        return known.Method(file, SyncNormal);
    }

    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern int sqlite3_file_control(IntPtr db, [MarshalAs(UnmanagedType.LPUTF8Str)] string schema, int operation, ref IntPtr argument);

    // A VFS's xSync and the delegate that calls it.
    private sealed record VfsSync(IntPtr Pointer, SyncMethod Method);

    // One sync of the log: the commits it covers (those counted before it began) and, once done, its outcome.
    private sealed class SyncRound(long through)
    {
        public long Through { get; } = through;

        public bool Done { get; set; }

        public int Result { get; set; }
    }
}
