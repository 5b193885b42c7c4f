using Microsoft.AspNetCore.Identity;

namespace AccountsPortal.Features.Accounts;

/// <summary>An account: Identity's user (email is also the user name) plus when it was created.</summary>
public sealed class PortalUser : IdentityUser
{
    public DateTimeOffset CreatedAt { get; set; }
}
