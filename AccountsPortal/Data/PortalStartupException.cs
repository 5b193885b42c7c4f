namespace AccountsPortal.Data;

/// <summary>A start-up failure the operator can fix; its message is printed without a stack trace.</summary>
public sealed class PortalStartupException(string message, Exception? innerException = null)
    : Exception(message, innerException);
