using AccountsPortal.Features.Accounts;
using AccountsPortal.Features.Activity;
using AccountsPortal.Features.Email;
using AccountsPortal.Features.Apps;
using AccountsPortal.Features.Accounts.LoginSessions;
using AccountsPortal.Features.Accounts.RecoveryKeys;
using AccountsPortal.Features.Accounts.Sessions;
using AccountsPortal.Features.Passkeys;
using AccountsPortal.Features.TwoFactor;
using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace AccountsPortal.Data;

/// <summary>
/// The portal's data, the same model on every provider. Services ask for this type; what they get is the
/// provider's own subclass (<see cref="SqlitePortalDbContext"/>, <see cref="PostgresPortalDbContext"/>), which
/// owns that provider's migrations (EF Core: "Migrations with multiple providers", one context type each).
/// </summary>
public abstract class PortalDbContext : IdentityDbContext<PortalUser>, IDataProtectionKeyContext
{
    /// <summary>
    /// A context for the provider's options. <c>SaveChanges</c> inside a transaction the portal opened does not wrap
    /// itself in a savepoint: no caller goes on after a failed save (each returns, and the transaction is undone), so
    /// the savepoint would only cost two statements per save.
    /// </summary>
    protected PortalDbContext(DbContextOptions options)
        : base(options)
    {
        Database.AutoSavepointsEnabled = false;
    }

    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<LoginSession> LoginSessions => Set<LoginSession>();

    public DbSet<BrowserSession> BrowserSessions => Set<BrowserSession>();

    public DbSet<RecoveryKey> RecoveryKeys => Set<RecoveryKey>();

    public DbSet<Passkey> Passkeys => Set<Passkey>();

    public DbSet<PasskeyCeremony> PasskeyCeremonies => Set<PasskeyCeremony>();

    public DbSet<TotpAuthenticator> TotpAuthenticators => Set<TotpAuthenticator>();

    public DbSet<Features.Accounts.Attempts.AttemptCounter> AttemptCounters => Set<Features.Accounts.Attempts.AttemptCounter>();

    public DbSet<Features.Accounts.Attempts.RateWindow> RateWindows => Set<Features.Accounts.Attempts.RateWindow>();

    public DbSet<AppLogin> AppLogins => Set<AppLogin>();

    public DbSet<AppToken> AppTokens => Set<AppToken>();

    public DbSet<SecurityEvent> SecurityEvents => Set<SecurityEvent>();

    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();

    public DbSet<Features.Notifications.KnownDevice> KnownDevices => Set<Features.Notifications.KnownDevice>();

    public DbSet<Features.Accounts.EmailAddresses.EmailVerification> EmailVerifications => Set<Features.Accounts.EmailAddresses.EmailVerification>();

    private static readonly DateTimeOffsetToBinaryConverter InstantConverter = new();

    /// <summary>An instant as the database stores it (see <see cref="ConfigureConventions"/>), for raw SQL.</summary>
    public static long StoredInstant(DateTimeOffset instant) => (long)InstantConverter.ConvertToProvider(instant)!;

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite has no date type: store instants as sortable integers so that expiry checks run in SQL. PostgreSQL
        // stores the same integers (bigint), so raw SQL and comparisons read alike on both.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        // Each feature keeps its entity configuration beside its entities.
        builder.ApplyConfigurationsFromAssembly(typeof(PortalDbContext).Assembly);
        // OpenIddict's applications, authorizations, scopes and tokens (the OpenID Connect provider).
        builder.UseOpenIddict();
    }
}
