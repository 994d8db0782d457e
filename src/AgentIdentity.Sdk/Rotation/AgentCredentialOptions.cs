namespace AgentIdentity;

/// <summary>How an <see cref="AgentCredential"/> obtains and renews its SVID.</summary>
public sealed class AgentCredentialOptions
{
    /// <summary>The shortest SVID lifetime accepted.</summary>
    public static readonly TimeSpan MinLifetime = TimeSpan.FromSeconds(5);

    /// <summary>The longest SVID lifetime accepted.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(7);

    /// <summary>Gets or sets the requested SVID lifetime.</summary>
    /// <value>The default value is 1 hour. Valid range: 5 seconds to 7 days.</value>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets the policy to request in the SVID (see <see cref="AgentPolicy"/>).</summary>
    /// <value>The default value is <see langword="null"/>: no policy extension, so the agent cannot delegate.</value>
    /// <remarks>The issuer decides whether to grant it; the development CA grants what is asked.</remarks>
    public AgentPolicy? Policy { get; set; }

    /// <summary>Gets or sets the key type.</summary>
    /// <value>The default value is <see cref="KeyAlgorithm.EcdsaP256"/>.</value>
    public KeyAlgorithm KeyAlgorithm { get; set; } = KeyAlgorithm.EcdsaP256;

    /// <summary>Gets or sets the fraction of the lifetime after which the SVID is renewed.</summary>
    /// <value>The default value is 0.5 (the SPIRE rule). Valid range: 0.1 to 0.9.</value>
    public double RenewalFraction { get; set; } = 0.5;

    /// <summary>Gets or sets the jitter applied to the renewal point, as a fraction of it (0.1 means ±10 %).</summary>
    /// <value>The default value is 0.1. Valid range: 0 to 0.5.</value>
    public double RenewalJitter { get; set; } = 0.1;

    /// <summary>Gets or sets the first retry delay after a failed issuance; later delays grow exponentially with jitter.</summary>
    /// <value>The default value is 1 second.</value>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest retry delay.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets the remaining-life fraction under which health is reported as Degraded.</summary>
    /// <value>The default value is 0.25.</value>
    public double DegradedThreshold { get; set; } = 0.25;

    /// <summary>Returns the first rule these options break, or <see langword="null"/>.</summary>
    /// <returns>A message naming the option and its valid range.</returns>
    public string? Validate()
    {
        if (Lifetime < MinLifetime || Lifetime > MaxLifetime)
        {
            return $"Lifetime must be between {MinLifetime} and {MaxLifetime}; it is {Lifetime}.";
        }

        if (!Enum.IsDefined(KeyAlgorithm))
        {
            return $"KeyAlgorithm {(int)KeyAlgorithm} is not a known key algorithm.";
        }

        if (!(RenewalFraction >= 0.1 && RenewalFraction <= 0.9))
        {
            return $"RenewalFraction must be between 0.1 and 0.9; it is {RenewalFraction}.";
        }

        if (!(RenewalJitter >= 0 && RenewalJitter <= 0.5))
        {
            return $"RenewalJitter must be between 0 and 0.5; it is {RenewalJitter}.";
        }

        if (RetryBaseDelay <= TimeSpan.Zero || RetryMaxDelay < RetryBaseDelay)
        {
            return $"RetryBaseDelay must be positive and no longer than RetryMaxDelay; they are {RetryBaseDelay} and {RetryMaxDelay}.";
        }

        if (!(DegradedThreshold > 0 && DegradedThreshold < 1))
        {
            return $"DegradedThreshold must be between 0 and 1 (exclusive); it is {DegradedThreshold}.";
        }

        return null;
    }

    internal AgentCredentialOptions Clone() => (AgentCredentialOptions)MemberwiseClone();
}

/// <summary>The health of an agent credential.</summary>
public enum CredentialHealth
{
    /// <summary>A valid SVID with at least the degraded threshold of its life left.</summary>
    Healthy,

    /// <summary>A valid SVID with less than the degraded threshold of its life left (renewal is failing).</summary>
    Degraded,

    /// <summary>No valid SVID: not yet issued, expired, or disposed.</summary>
    Unhealthy,
}

/// <summary>A point-in-time status of an <see cref="AgentCredential"/>.</summary>
/// <param name="Id">The SPIFFE ID.</param>
/// <param name="Health">The health.</param>
/// <param name="NotAfter">The current SVID's expiry, if there is one.</param>
/// <param name="RemainingLifetime">The current SVID's remaining lifetime; zero when there is none.</param>
/// <param name="NextRenewal">When the next renewal is scheduled, if one is.</param>
/// <param name="ConsecutiveFailures">Failed issuance attempts since the last success.</param>
/// <param name="LastError">The last issuance error message, if the last attempt failed.</param>
/// <param name="Rotations">How many SVIDs this credential has obtained.</param>
public sealed record AgentCredentialStatus(
    SpiffeId Id,
    CredentialHealth Health,
    DateTimeOffset? NotAfter,
    TimeSpan RemainingLifetime,
    DateTimeOffset? NextRenewal,
    int ConsecutiveFailures,
    string? LastError,
    long Rotations);
