using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>How an <see cref="AgentCredential"/> obtains and renews its SVID.</summary>
/// <remarks>Validated by a source-generated options validator plus the rule that relates the two retry delays; in dependency
/// injection a bad value fails at start-up with a message that names the option.</remarks>
public sealed class AgentCredentialOptions
{
    /// <summary>The shortest SVID lifetime accepted.</summary>
    public static readonly TimeSpan MinLifetime = TimeSpan.FromSeconds(5);

    /// <summary>The longest SVID lifetime accepted.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(7);

    /// <summary>Gets or sets the requested SVID lifetime.</summary>
    /// <value>The default value is 1 hour. Valid range: 5 seconds to 7 days.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = OptionsValidation.TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:05", "7.00:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the policy to request in the SVID (see <see cref="AgentPolicy"/>).</summary>
    /// <value>The default value is <see langword="null"/>: no policy extension, so the agent cannot delegate.</value>
    /// <remarks>The issuer decides whether to grant it; the development CA grants what is asked.</remarks>
    public AgentPolicy? Policy { get; set; }

    /// <summary>Gets or sets the key type.</summary>
    /// <value>The default value is <see cref="KeyAlgorithm.EcdsaP256"/>.</value>
    [EnumDataType(typeof(KeyAlgorithm))]
    public KeyAlgorithm KeyAlgorithm { get; set; } = KeyAlgorithm.EcdsaP256;

    /// <summary>Gets or sets the fraction of the lifetime after which the SVID is renewed.</summary>
    /// <value>The default value is 0.5 (the SPIRE rule). Valid range: 0.1 to 0.9.</value>
    [Range(0.1, 0.9)]
    public double RenewalFraction { get; set; } = 0.5;

    /// <summary>Gets or sets the jitter applied to the renewal point, as a fraction of it (0.1 means ±10 %).</summary>
    /// <value>The default value is 0.1. Valid range: 0 to 0.5.</value>
    [Range(0.0, 0.5)]
    public double RenewalJitter { get; set; } = 0.1;

    /// <summary>Gets or sets the first retry delay after a failed issuance; later delays grow exponentially with jitter.</summary>
    /// <value>The default value is 1 second. Must be positive and no longer than <see cref="RetryMaxDelay"/>.</value>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest retry delay.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the remaining-life fraction under which health is reported as Degraded.</summary>
    /// <value>The default value is 0.25. Valid range: 0 to 1, both exclusive.</value>
    [Range(0.0, 1.0, MinimumIsExclusive = true, MaximumIsExclusive = true)]
    public double DegradedThreshold { get; set; } = 0.25;

    /// <summary>Runs every rule (attributes and cross-field) outside of dependency injection.</summary>
    /// <returns>The failures, each naming the option; <see langword="null"/> when the options are valid.</returns>
    internal string? Validate() => OptionsValidation.Validate(null, this, AgentCredentialOptionsValidator.Instance, AgentCredentialOptionsRules.Instance);

    internal AgentCredentialOptions Clone() => (AgentCredentialOptions)MemberwiseClone();

    internal void CopyTo(AgentCredentialOptions target)
    {
        target.Lifetime = Lifetime;
        target.Policy = Policy;
        target.KeyAlgorithm = KeyAlgorithm;
        target.RenewalFraction = RenewalFraction;
        target.RenewalJitter = RenewalJitter;
        target.RetryBaseDelay = RetryBaseDelay;
        target.RetryMaxDelay = RetryMaxDelay;
        target.DegradedThreshold = DegradedThreshold;
    }
}

/// <summary>The attribute rules of <see cref="AgentCredentialOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentCredentialOptionsValidator : IValidateOptions<AgentCredentialOptions>
{
    public static AgentCredentialOptionsValidator Instance { get; } = new();
}

/// <summary>The rules of <see cref="AgentCredentialOptions"/> that relate two options.</summary>
internal sealed class AgentCredentialOptionsRules : IValidateOptions<AgentCredentialOptions>
{
    public static AgentCredentialOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentCredentialOptions options) =>
        options.RetryBaseDelay <= TimeSpan.Zero || options.RetryMaxDelay < options.RetryBaseDelay
            ? ValidateOptionsResult.Fail($"{OptionsValidation.DisplayName(name, nameof(AgentCredentialOptions))}.RetryBaseDelay must be positive and no longer than RetryMaxDelay; they are {options.RetryBaseDelay} and {options.RetryMaxDelay}.")
            : ValidateOptionsResult.Success;
}

/// <summary>A point-in-time status of an <see cref="AgentCredential"/>.</summary>
/// <param name="Id">The SPIFFE ID.</param>
/// <param name="Health">The health: <see cref="HealthStatus.Healthy"/> with a valid SVID and at least the degraded threshold of its
/// life left, <see cref="HealthStatus.Degraded"/> below that threshold (renewal is failing), <see cref="HealthStatus.Unhealthy"/> with no
/// valid SVID (not yet issued, expired, revoked or disposed).</param>
/// <param name="NotAfter">The current SVID's expiry, if there is one.</param>
/// <param name="RemainingLifetime">The current SVID's remaining lifetime; zero when there is none.</param>
/// <param name="NextRenewal">When the next renewal is scheduled, if one is.</param>
/// <param name="ConsecutiveFailures">Failed issuance attempts since the last success.</param>
/// <param name="LastError">The last issuance error message, if the last attempt failed.</param>
/// <param name="Rotations">How many SVIDs this credential has obtained.</param>
public sealed record AgentCredentialStatus(
    SpiffeId Id,
    HealthStatus Health,
    DateTimeOffset? NotAfter,
    TimeSpan RemainingLifetime,
    DateTimeOffset? NextRenewal,
    int ConsecutiveFailures,
    string? LastError,
    long Rotations);
