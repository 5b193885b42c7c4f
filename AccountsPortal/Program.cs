using AccountsPortal;
using AccountsPortal.Data;

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddPortal();

    var app = builder.Build();
    app.MapPortal();

    await app.PrepareDatabaseAsync();
    await app.RunAsync();
    return 0;
}
catch (PortalStartupException exception)
{
    // An operator's problem (say, an unwritable database path): one clear line, no stack trace.
    await Console.Error.WriteLineAsync($"AccountsPortal could not start: {exception.Message}");
    return 1;
}

public partial class Program;
