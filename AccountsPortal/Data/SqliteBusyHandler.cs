using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace AccountsPortal.Data;

/// <summary>
/// How a SQLite connection waits for the write lock another connection holds (SQLite's <c>sqlite3_busy_handler</c>):
/// it tries again as soon as a commit of this process gives the lock back, and at least every millisecond, until
/// <c>Database:BusyTimeoutMilliseconds</c> have passed since this locking event began, then gives up with
/// <c>SQLITE_BUSY</c> ("database is locked"), as <c>PRAGMA busy_timeout</c> would. After each commit (SQLite's
/// <c>sqlite3_wal_hook</c>) a write-ahead log past <see cref="AutoCheckpointPages"/> is checkpointed, as SQLite's
/// default hook did (past <see cref="RestartCheckpointPages"/>, with writers held off so the log starts over), and then
/// a waiting writer is woken.
/// </summary>
/// <remarks>
/// <para>
/// <c>PRAGMA busy_timeout</c> installs SQLite's own handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and
/// then 100 ms between tries. A portal transaction holds the lock for about a millisecond, so under load a writer that
/// lost a few times slept tens of milliseconds while the lock stood free: profiles of 32 clients showed the node a
/// third idle with steps waiting 100 ms and more. Polling every millisecond takes the lock soon after it is released
/// and changes nothing else: SQLite still decides who holds the lock, nothing is held by the portal between
/// statements, and a refusal after the timeout is the same error as before.
/// </para>
/// <para>
/// The handler is native-to-managed: the callback runs on the thread stepping the statement, which it blocks while it
/// sleeps, as SQLite's own handler does. SQLite passes the number of earlier calls for the same locking event
/// (0 for the first), so the event's start is kept per thread, where that statement runs. Installing it sets the
/// connection's <c>busy_timeout</c> to 0 (one handler per connection); <see cref="TimeoutOf"/> tells which timeout a
/// connection was given.
/// </para>
/// <para>
/// The price: while another process holds the lock for long, each waiting connection wakes a thousand times a second
/// (an outside review measured 140 and 133 CPU ticks against 99 and 70 over 3.5 s of 16 waiting requests). Threads
/// are blocked no longer than before: at most the timeout per locking event, as with <c>busy_timeout</c>.
/// </para>
/// <para>
/// After a commit. SQLite calls the WAL hook once the commit is durable and the write lock released. Before, a writer of
/// this process waiting in the handler slept out its millisecond while the lock stood free, a gap at every hand-over of
/// a lock that portal transactions hold for well under a millisecond: under load a node used about 1.0 of the 2 cores.
/// The hook now wakes one waiting writer at once (the millisecond's poll remains for locks given back by other
/// processes or by rollbacks, and for a wake-up another waiter took). It replaces SQLite's default hook (one hook per
/// connection), so it also does that one's work, first: the passive checkpoint past 1,000 pages. Last, under
/// <see cref="SqliteCommitSync.Grouped"/>, it waits for the sync that makes the commit durable (<see cref="SqliteGroupSync"/>). A
/// <c>PRAGMA wal_autocheckpoint</c> on a connection would put SQLite's hook back in place of this one (nothing in the
/// portal or its libraries runs it); <c>PRAGMA wal_autocheckpoint</c> reads 0 while this hook is installed. The figures
/// are in the README's "Performance".
/// </para>
/// <para>
/// A log that outgrows the passive checkpoints. SQLite starts the log over only when a writer begins after a checkpoint
/// copied every frame back; a passive checkpoint runs with the write lock free, and where its syncs are slow (a busy
/// or single-core machine) a writer polling every millisecond nearly always began during it: the log grew with all that
/// was written while the load lasted (CI: 31 MB for 45 MB written; 33-72 MB on one core). Past
/// <see cref="RestartCheckpointPages"/> the hook runs a <c>SQLITE_CHECKPOINT_RESTART</c> instead, which holds the write lock
/// while it copies and then starts the log over itself. It never waits: with the write lock taken it does what a passive
/// one would, and with a reader still on an older snapshot it copies what it may and leaves the log to a later commit
/// (<c>sqlite3_wal_checkpoint_v2</c>; the busy handler answers "give up" at once on that thread while it runs, and is
/// installed again afterwards when it did, since SQLite would otherwise leave the connection giving up at once until
/// its next statement steps). The price: the first restart after a long reader let the log grow copies that whole
/// backlog while writers wait (an outside review: at most 201 ms after 258 MB, with no write refused; before, that copy
/// ran with the lock free and the log kept growing). Probes with 6 writers and a reader holding a snapshot for 6 s
/// counted no busy failure before or after the change.
/// </para>
/// </remarks>
public static class SqliteBusyHandler
{
    private const int SqliteOk = 0;
    private const int SqliteIoError = 10;
    private const int SqliteCheckpointRestart = 2;

    // Kept for the life of the process: SQLite holds the function pointer for every connection it was given to.
    private static readonly BusyCallback Callback = OnBusy;
    private static readonly IntPtr CallbackPointer = Marshal.GetFunctionPointerForDelegate(Callback);

    // Native handles given the handler, with their timeout; an entry goes when its handle is collected.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> Installed = [];

    // The WAL hook, kept like the busy handler's. It replaces SQLite's default one (sqlite3_wal_autocheckpoint).
    private static readonly WalCallback CommitCallback = OnCommitted;
    private static readonly IntPtr CommitCallbackPointer = Marshal.GetFunctionPointerForDelegate(CommitCallback);

    // Writers of this process waiting in the handler, and what wakes one of them when a commit gives the lock back.
    private static readonly AutoResetEvent LockGivenBack = new(false);
    private static int waiting;

    [ThreadStatic]
    private static long eventStarted;

    // Set on the committing thread while its hook runs a restart checkpoint, which must not wait for anyone.
    [ThreadStatic]
    private static bool checkpointingWithoutWaiting;

    // The handler's argument when it gave up during that checkpoint (zero when it was not called): SQLite then leaves the
    // connection's busy count at -1, which makes it give up at once until its next statement steps; installing the
    // handler again with this argument sets the count back to 0.
    [ThreadStatic]
    private static IntPtr gaveUpWith;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int BusyCallback(IntPtr argument, int count);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int WalCallback(IntPtr argument, IntPtr db, IntPtr schema, int frames);

    /// <summary>
    /// A commit that leaves the write-ahead log at this many pages or more checkpoints it (passive), as SQLite's default
    /// hook does (<c>PRAGMA wal_autocheckpoint</c>, 1,000 pages), which the portal's hook replaces.
    /// </summary>
    public const int AutoCheckpointPages = 1000;

    /// <summary>
    /// A commit that leaves the write-ahead log at this many pages or more (twice <see cref="AutoCheckpointPages"/>: the
    /// passive checkpoints since the log passed 1,000 pages were each overtaken by a writer) runs a restart checkpoint
    /// (<c>SQLITE_CHECKPOINT_RESTART</c>, without waiting) that holds writers off while it copies and starts the log over.
    /// At SQLite's default 4 KiB page, about 8 MB of log.
    /// </summary>
    public const int RestartCheckpointPages = 2 * AutoCheckpointPages;

    /// <summary>Installs the handler on an open connection, waiting up to <paramref name="timeoutMilliseconds"/> (at least 1) per locking event.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="timeoutMilliseconds">The longest wait per locking event, at least 1.</param>
    /// <param name="groupSync">
    /// When given, each commit returns only once this group has synced the log after it
    /// (<see cref="SqliteCommitSync.Grouped"/>; the connection runs with <c>synchronous=NORMAL</c>); null leaves the sync to
    /// SQLite's <c>synchronous</c> setting.
    /// </param>
    /// <exception cref="InvalidOperationException">The connection is not open, or SQLite refused the handler.</exception>
    public static void Install(SqliteConnection connection, int timeoutMilliseconds, SqliteGroupSync? groupSync = null) =>
        Install(connection, timeoutMilliseconds, pollMilliseconds: 1, groupSync);

    /// <summary>
    /// As <see cref="Install(SqliteConnection, int, SqliteGroupSync?)"/>, with the longest wait between tries when no commit
    /// of this process wakes the writer (1 ms for the portal's connections; tests lengthen it to tell a wake-up from a poll).
    /// </summary>
    internal static void Install(SqliteConnection connection, int timeoutMilliseconds, int pollMilliseconds, SqliteGroupSync? groupSync = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeoutMilliseconds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pollMilliseconds, 1);
        var handle = connection.Handle ?? throw new InvalidOperationException("The SQLite connection is not open.");
        // SQLite hands the handler one pointer-sized argument: the timeout in its low 32 bits, the poll in its high ones
        // (a 32-bit process has no room for the poll: 1 ms).
        var argument = IntPtr.Size == 8 ? (IntPtr)(((long)pollMilliseconds << 32) | (uint)timeoutMilliseconds) : timeoutMilliseconds;
        var result = sqlite3_busy_handler(handle.DangerousGetHandle(), CallbackPointer, argument);
        if (result != SqliteOk)
        {
            throw new InvalidOperationException($"SQLite refused the busy handler (error {result}).");
        }

        sqlite3_wal_hook(handle.DangerousGetHandle(), CommitCallbackPointer, groupSync?.Handle ?? IntPtr.Zero);
        Installed.AddOrUpdate(handle, new InstalledHandler(timeoutMilliseconds, groupSync));
    }

    /// <summary>The timeout the connection's handler was installed with, or null when it has none of ours.</summary>
    public static int? TimeoutOf(SqliteConnection connection) =>
        connection?.Handle is { } handle && Installed.TryGetValue(handle, out var installed) ? ((InstalledHandler)installed).Timeout : null;

    /// <summary>The group that syncs the connection's commits (<see cref="SqliteCommitSync.Grouped"/>), or null when SQLite's <c>synchronous</c> does.</summary>
    public static SqliteGroupSync? GroupSyncOf(SqliteConnection connection) =>
        connection?.Handle is { } handle && Installed.TryGetValue(handle, out var installed) ? ((InstalledHandler)installed).GroupSync : null;

    private static int OnBusy(IntPtr argument, int count)
    {
        if (checkpointingWithoutWaiting)
        {
            gaveUpWith = argument;
            return 0;
        }

        var (timeoutMilliseconds, pollMilliseconds) = ((long)argument & uint.MaxValue, Math.Max(1, (int)((long)argument >> 32)));
        var now = Stopwatch.GetTimestamp();
        if (count == 0)
        {
            eventStarted = now;
        }

        if (Stopwatch.GetElapsedTime(eventStarted, now).TotalMilliseconds >= timeoutMilliseconds)
        {
            return 0;
        }

        // Wait for a commit of this process to give the lock back, or the poll's 1 ms (another process, a rollback, a
        // wake-up that went to another waiter or came just before this one waited).
        Interlocked.Increment(ref waiting);
        LockGivenBack.WaitOne(pollMilliseconds);
        Interlocked.Decrement(ref waiting);
        return 1;
    }

    // SQLite calls it after each commit in WAL mode, once the write lock is released (sqlite3_wal_hook).
    private static int OnCommitted(IntPtr argument, IntPtr db, IntPtr schema, int frames)
    {
        if (frames >= AutoCheckpointPages)
        {
            // What SQLite's default hook does: a passive checkpoint, which waits for nobody; one that finds another
            // running, or fails, is left for a later commit. Before the wake-up: SQLite starts the log over only when a
            // writer begins after every frame was copied back. A writer woken first began during the copy after every
            // such commit, and under load the log never started over (an outside review: 150-220 MB in 8 s of 8
            // writers). Writers that poll may still begin during a copy now and then, as with SQLite's own hook; when
            // they did so often that the log reached twice the mark, the restart checkpoint holds them off (remarks).
            int checkpoint;
            if (frames >= RestartCheckpointPages)
            {
                checkpointingWithoutWaiting = true;
                gaveUpWith = IntPtr.Zero;
                try
                {
                    checkpoint = sqlite3_wal_checkpoint_v2(db, schema, SqliteCheckpointRestart, IntPtr.Zero, IntPtr.Zero);
                }
                finally
                {
                    checkpointingWithoutWaiting = false;
                }

                if (gaveUpWith != IntPtr.Zero)
                {
                    // Re-armed: a statement prepared on this connection before its next step (a schema reload that
                    // meets the lock) waits as before instead of failing at once.
                    sqlite3_busy_handler(db, CallbackPointer, gaveUpWith);
                    gaveUpWith = IntPtr.Zero;
                }
            }
            else
            {
                checkpoint = sqlite3_wal_checkpoint(db, schema);
            }

            if (argument != IntPtr.Zero && (checkpoint & 0xFF) == SqliteIoError)
            {
                // Under group commit the checkpoint's sync of the log is the first one over other commits' frames; after
                // a failed one, the group's own sync on the same file could succeed over pages the kernel dropped.
                SqliteGroupSync.FromHandle(argument).SyncFailed(checkpoint, "its checkpoint");
            }
        }

        if (Volatile.Read(ref waiting) > 0)
        {
            LockGivenBack.Set();
        }

        // Last, with the next writer already on its way: the commit returns once the log is on disk (group commit).
        return argument == IntPtr.Zero ? SqliteOk : SqliteGroupSync.FromHandle(argument).WaitUntilDurable(db, schema);
    }

    private sealed record InstalledHandler(int Timeout, SqliteGroupSync? GroupSync);

    // The library Microsoft.Data.Sqlite loaded (SQLitePCLRaw's e_sqlite3 provider), which leaves this call out.
    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern int sqlite3_busy_handler(IntPtr db, IntPtr handler, IntPtr argument);

    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern IntPtr sqlite3_wal_hook(IntPtr db, IntPtr callback, IntPtr argument);

    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern int sqlite3_wal_checkpoint(IntPtr db, IntPtr schema);

    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern int sqlite3_wal_checkpoint_v2(IntPtr db, IntPtr schema, int mode, IntPtr logFrames, IntPtr checkpointedFrames);
}
