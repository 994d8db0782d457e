namespace AgentIdentity.Spiffe;

/// <summary>Options of the SPIFFE Workload API client.</summary>
public sealed class WorkloadApiOptions
{
    /// <summary>Gets or sets the endpoint address (<c>unix:///path</c> or <c>tcp://IP:port</c>).</summary>
    /// <value>The default is <see langword="null"/>: the address is read from <c>SPIFFE_ENDPOINT_SOCKET</c>.</value>
    public string? Address { get; set; }

    /// <summary>Gets or sets the hint of the X.509-SVID to use when the Workload API returns several.</summary>
    /// <value>The default is <see langword="null"/>: the first SVID (the spec's default identity).</value>
    public string? Hint { get; set; }

    /// <summary>Gets or sets the step of the linear reconnect backoff (go-spiffe: 1 s, 2 s, 3 s, …).</summary>
    public TimeSpan BackoffStep { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest reconnect backoff (go-spiffe: 30 s).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal WorkloadApiOptions Clone() => new() { Address = Address, Hint = Hint, BackoffStep = BackoffStep, MaxBackoff = MaxBackoff };

    internal WorkloadApiAddress ResolveAddress() =>
        Address is null ? WorkloadApiAddress.FromEnvironment() : WorkloadApiAddress.Parse(Address);

    internal void Validate()
    {
        if (BackoffStep <= TimeSpan.Zero || MaxBackoff < BackoffStep)
        {
            throw new ArgumentException($"WorkloadApiOptions: BackoffStep ({BackoffStep}) must be positive and MaxBackoff ({MaxBackoff}) at least BackoffStep.");
        }

        if (Hint is { Length: 0 })
        {
            throw new ArgumentException("WorkloadApiOptions.Hint is empty; use null to take the first SVID.");
        }
    }
}
