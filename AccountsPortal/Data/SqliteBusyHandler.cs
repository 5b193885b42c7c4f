using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace AccountsPortal.Data;

/// <summary>
/// How a SQLite connection waits for the write lock another connection holds (SQLite's <c>sqlite3_busy_handler</c>):
/// it tries again every millisecond until <c>Database:BusyTimeoutMilliseconds</c> have passed since this locking
/// event began, then gives up with <c>SQLITE_BUSY</c> ("database is locked"), as <c>PRAGMA busy_timeout</c> would.
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
/// </remarks>
public static class SqliteBusyHandler
{
    private const int SqliteOk = 0;

    // Kept for the life of the process: SQLite holds the function pointer for every connection it was given to.
    private static readonly BusyCallback Callback = OnBusy;
    private static readonly IntPtr CallbackPointer = Marshal.GetFunctionPointerForDelegate(Callback);

    // Native handles given the handler, with their timeout; an entry goes when its handle is collected.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> Installed = [];

    [ThreadStatic]
    private static long eventStarted;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int BusyCallback(IntPtr timeoutMilliseconds, int count);

    /// <summary>Installs the handler on an open connection, waiting up to <paramref name="timeoutMilliseconds"/> (at least 1) per locking event.</summary>
    /// <exception cref="InvalidOperationException">The connection is not open, or SQLite refused the handler.</exception>
    public static void Install(SqliteConnection connection, int timeoutMilliseconds)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeoutMilliseconds, 1);
        var handle = connection.Handle ?? throw new InvalidOperationException("The SQLite connection is not open.");
        var result = sqlite3_busy_handler(handle.DangerousGetHandle(), CallbackPointer, timeoutMilliseconds);
        if (result != SqliteOk)
        {
            throw new InvalidOperationException($"SQLite refused the busy handler (error {result}).");
        }

        Installed.AddOrUpdate(handle, timeoutMilliseconds);
    }

    /// <summary>The timeout the connection's handler was installed with, or null when it has none of ours.</summary>
    public static int? TimeoutOf(SqliteConnection connection) =>
        connection?.Handle is { } handle && Installed.TryGetValue(handle, out var timeout) ? (int)timeout : null;

    private static int OnBusy(IntPtr timeoutMilliseconds, int count)
    {
        var now = Stopwatch.GetTimestamp();
        if (count == 0)
        {
            eventStarted = now;
        }

        if (Stopwatch.GetElapsedTime(eventStarted, now).TotalMilliseconds >= (long)timeoutMilliseconds)
        {
            return 0;
        }

        Thread.Sleep(1);
        return 1;
    }

    // The library Microsoft.Data.Sqlite loaded (SQLitePCLRaw's e_sqlite3 provider), which leaves this call out.
    [DllImport("e_sqlite3", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
    private static extern int sqlite3_busy_handler(IntPtr db, IntPtr handler, IntPtr argument);
}
