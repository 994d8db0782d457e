using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Spiffe;

/// <summary>Options of <see cref="WorkloadApiServer"/>.</summary>
public sealed class WorkloadApiServerOptions
{
    /// <summary>Gets or sets the absolute path of the Unix socket to listen on. Required. An existing socket file is replaced.</summary>
    [Required(ErrorMessage = "{0} is required: the absolute path of the Unix socket to listen on.")]
    public string? SocketPath { get; set; }

    /// <summary>Gets the registration entries. Callers that match none are denied (<c>PermissionDenied</c>).</summary>
    public IList<WorkloadRegistration> Registrations { get; } = [];

    /// <summary>Gets the federated trust bundles sent to every caller with its SVIDs.</summary>
    public IList<TrustBundle> FederatedBundles { get; } = [];

    /// <summary>Gets or sets the lifetime of the SVIDs the server mints.</summary>
    /// <value>The default value is 1 hour. Must be longer than 1 second.</value>
    public TimeSpan SvidLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the fraction of the lifetime after which SVIDs are re-minted and pushed (SPIRE: one half).</summary>
    /// <value>The default value is 0.5. Valid range: 0 to 1, both exclusive.</value>
    [Range(0.0, 1.0, MinimumIsExclusive = true, MaximumIsExclusive = true)]
    public double RotationFraction { get; set; } = 0.5;

    /// <summary>Gets or sets the lifetime of JWT-SVIDs the server mints.</summary>
    /// <value>The default value is 5 minutes. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan JwtSvidLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Runs every rule (attributes and cross-field).</summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    internal void Validate()
    {
        if (OptionsValidation.Validate(null, this, new WorkloadApiServerOptionsValidator(), WorkloadApiServerOptionsRules.Instance) is { } error)
        {
            throw new ArgumentException($"Invalid Workload API server options: {error}");
        }
    }
}

/// <summary>The attribute rules of <see cref="WorkloadApiServerOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class WorkloadApiServerOptionsValidator : IValidateOptions<WorkloadApiServerOptions>;

/// <summary>The rules of <see cref="WorkloadApiServerOptions"/> beyond attributes: an absolute socket path, an SVID lifetime
/// above one second, and a selector on every registration.</summary>
internal sealed class WorkloadApiServerOptionsRules : IValidateOptions<WorkloadApiServerOptions>
{
    public static WorkloadApiServerOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, WorkloadApiServerOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(WorkloadApiServerOptions));
        var failures = new List<string>();
        if (options.SocketPath is { Length: > 0 } path && !Path.IsPathFullyQualified(path))
        {
            failures.Add($"{prefix}.SocketPath must be an absolute path, not '{DisplayText.Truncate(path)}'.");
        }

        if (options.SvidLifetime <= TimeSpan.FromSeconds(1))
        {
            failures.Add($"{prefix}.SvidLifetime must be longer than 1 second; it is {options.SvidLifetime}.");
        }

        foreach (var registration in options.Registrations)
        {
            if (registration.SelectorError is { } error)
            {
                failures.Add($"{prefix}.Registrations: the registration for '{registration.Id}' {error}.");
            }
        }

        return OptionsValidation.Result(failures);
    }
}
