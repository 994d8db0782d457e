namespace AgentIdentity.AspNetCore;

/// <summary>Options for the revocation endpoints mapped by <c>MapAgentIdentityRevocation</c>.</summary>
public sealed class RevocationEndpointOptions
{
    /// <summary>Gets or sets how often the feed sends a heartbeat comment while nothing is revoked; subscribers treat silence
    /// longer than their idle timeout as a dead connection.</summary>
    /// <value>The default value is 5 seconds.</value>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the most entries read from the registry per batch.</summary>
    /// <value>The default value is 256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Gets or sets the longest a long-poll request (<c>/feed/poll</c>) waits for a new entry.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan MaxLongPollWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the registry to publish; <see langword="null"/> for the <see cref="IRevocationRegistry"/> in DI.</summary>
    public IRevocationRegistry? Registry { get; set; }

    /// <summary>Gets or sets the OCSP responder; <see langword="null"/> for the <see cref="OcspResponder"/> in DI (none: the OCSP endpoints answer 404).</summary>
    public OcspResponder? OcspResponder { get; set; }
}
