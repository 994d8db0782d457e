namespace AgentIdentity.Spiffe;

/// <summary>Options of <see cref="WorkloadApiServer"/>.</summary>
public sealed class WorkloadApiServerOptions
{
    /// <summary>Gets or sets the absolute path of the Unix socket to listen on. Required. An existing socket file is replaced.</summary>
    public string? SocketPath { get; set; }

    /// <summary>Gets the registration entries. Callers that match none are denied (<c>PermissionDenied</c>).</summary>
    public IList<WorkloadRegistration> Registrations { get; } = [];

    /// <summary>Gets the federated trust bundles sent to every caller with its SVIDs.</summary>
    public IList<TrustBundle> FederatedBundles { get; } = [];

    /// <summary>Gets or sets the lifetime of the SVIDs the server mints.</summary>
    public TimeSpan SvidLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the fraction of the lifetime after which SVIDs are re-minted and pushed (SPIRE: one half).</summary>
    public double RotationFraction { get; set; } = 0.5;

    /// <summary>Gets or sets the lifetime of JWT-SVIDs the server mints.</summary>
    public TimeSpan JwtSvidLifetime { get; set; } = TimeSpan.FromMinutes(5);

    internal void Validate()
    {
        if (string.IsNullOrEmpty(SocketPath) || !Path.IsPathFullyQualified(SocketPath))
        {
            throw new ArgumentException($"WorkloadApiServerOptions.SocketPath must be an absolute path, not '{SocketPath}'.");
        }

        if (SvidLifetime <= TimeSpan.FromSeconds(1) || JwtSvidLifetime <= TimeSpan.Zero)
        {
            throw new ArgumentException($"WorkloadApiServerOptions: SvidLifetime ({SvidLifetime}) and JwtSvidLifetime ({JwtSvidLifetime}) must be positive.");
        }

        if (RotationFraction is <= 0 or >= 1)
        {
            throw new ArgumentException($"WorkloadApiServerOptions.RotationFraction must be between 0 and 1 exclusive, not {RotationFraction}.");
        }

        foreach (var registration in Registrations)
        {
            if (registration.UserId is null && registration.GroupId is null && registration.ExecutablePath is null && registration.ProcessId is null)
            {
                throw new ArgumentException($"Registration for '{registration.Id}' has no selector; set UserId, GroupId, ExecutablePath or ProcessId.");
            }
        }
    }
}
