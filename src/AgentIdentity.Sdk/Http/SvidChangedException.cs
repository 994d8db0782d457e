namespace AgentIdentity;

/// <summary>Internal signal: the request was pinned to an SVID (its bound token belongs to it) that is no longer current. Nothing was sent.</summary>
internal sealed class SvidChangedException : Exception
{
    public SvidChangedException()
        : base("The X.509-SVID changed between choosing the access token and sending the request; nothing was sent.")
    {
    }

    public SvidChangedException(string message)
        : base(message)
    {
    }

    public SvidChangedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
