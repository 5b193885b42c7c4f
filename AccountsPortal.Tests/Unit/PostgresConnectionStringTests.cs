using AccountsPortal.Data;
using Npgsql;

namespace AccountsPortal.Tests.Unit;

public sealed class PostgresConnectionStringTests
{
    private static NpgsqlConnectionStringBuilder Built(string connectionString, int busyTimeout = 5000) =>
        new(DataExtensions.PostgresConnectionString(new DatabaseOptions { ConnectionString = connectionString, BusyTimeoutMilliseconds = busyTimeout }));

    [Fact]
    public void The_busy_timeout_becomes_the_lock_timeout_and_statements_are_prepared_by_default()
    {
        var built = Built("Host=db;Database=portal;Username=portal;Password=secret", busyTimeout: 1500);

        Assert.Equal("-c lock_timeout=1500", built.Options);
        Assert.Equal(DataExtensions.DefaultMaxAutoPrepare, built.MaxAutoPrepare);
        Assert.Equal(("db", "portal", "portal", "secret"), (built.Host, built.Database, built.Username, built.Password));
    }

    [Fact]
    public void What_the_operator_set_is_kept()
    {
        var built = Built("Host=db;Database=portal;Max Auto Prepare=0;Options=-c lock_timeout=250 -c search_path=portal");

        Assert.Equal(0, built.MaxAutoPrepare);
        Assert.Equal("-c lock_timeout=250 -c search_path=portal", built.Options);
    }

    [Fact]
    public void Other_options_are_kept_beside_the_lock_timeout()
    {
        Assert.Equal("-c search_path=portal -c lock_timeout=5000", Built("Host=db;Options=-c search_path=portal").Options);
    }
}
