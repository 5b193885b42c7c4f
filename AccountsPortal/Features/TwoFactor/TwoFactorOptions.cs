namespace AccountsPortal.Features.TwoFactor;

/// <summary>TOTP settings and the per-account lockout shared by codes and recovery keys. Section "TwoFactor".</summary>
public sealed class TwoFactorOptions
{
    public const string SectionName = "TwoFactor";

    /// <summary>The issuer authenticator apps show next to the account.</summary>
    public string Issuer { get; set; } = "AccountsPortal";

    /// <summary>Wrong codes or recovery keys per window (<see cref="LockoutDuration"/> long) after which the account refuses them for <see cref="LockoutDuration"/>; a right one in between does not give them back.</summary>
    public int MaxFailedAttempts { get; set; } = 10;

    public TimeSpan LockoutDuration { get; set; } = TimeSpan.FromMinutes(15);
}
