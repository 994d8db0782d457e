using Microsoft.Extensions.Options;

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
    /// <value>The default value is 1 second. Must be positive.</value>
    [PositiveTimeSpan]
    public TimeSpan BackoffStep { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest reconnect backoff (go-spiffe: 30 s).</summary>
    /// <value>The default value is 30 seconds. Must be at least <see cref="BackoffStep"/>.</value>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal WorkloadApiOptions Clone() => new() { Address = Address, Hint = Hint, BackoffStep = BackoffStep, MaxBackoff = MaxBackoff };

    internal WorkloadApiAddress ResolveAddress() =>
        Address is null ? WorkloadApiAddress.FromEnvironment() : WorkloadApiAddress.Parse(Address);

    /// <summary>Runs every rule (attributes and cross-field).</summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    internal void Validate()
    {
        if (OptionsValidation.Validate(null, this, new WorkloadApiOptionsValidator(), WorkloadApiOptionsRules.Instance) is { } error)
        {
            throw new ArgumentException($"Invalid Workload API options: {error}");
        }
    }
}

/// <summary>The attribute rules of <see cref="WorkloadApiOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class WorkloadApiOptionsValidator : IValidateOptions<WorkloadApiOptions>;

/// <summary>The rules of <see cref="WorkloadApiOptions"/> beyond attributes: a set hint is not empty, and the backoff cap is not below its step.</summary>
internal sealed class WorkloadApiOptionsRules : IValidateOptions<WorkloadApiOptions>
{
    public static WorkloadApiOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, WorkloadApiOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(WorkloadApiOptions));
        if (options.Hint is { Length: 0 })
        {
            return ValidateOptionsResult.Fail($"{prefix}.Hint is empty; use null to take the first SVID.");
        }

        return options.BackoffStep > TimeSpan.Zero && options.MaxBackoff < options.BackoffStep
            ? ValidateOptionsResult.Fail($"{prefix}.MaxBackoff ({options.MaxBackoff}) must be at least BackoffStep ({options.BackoffStep}).")
            : ValidateOptionsResult.Success;
    }
}
