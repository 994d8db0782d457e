using Microsoft.Extensions.Configuration;

namespace AgentIdentity;

/// <summary>
/// The configuration shape of an <see cref="AgentPolicy"/>: the five members of the one policy JSON shape (docs/schemas/agent-policy.schema.json)
/// that configuration, the CLI's <c>policy.json</c> and the issuer's <c>v1/join-tokens</c> share: <c>services</c>, <c>actions</c>,
/// <c>tools</c>, <c>delegationTargets</c> and <c>maxDelegationDepth</c>. Bound by the configuration binder's source generator, then
/// converted to the immutable policy; every error names the configuration key (<c>AgentIdentity:Agents:planner:Policy:tools:0</c>).
/// </summary>
/// <remarks>A task id is not configurable: <see cref="AgentCredential.DelegateAsync"/> sets it.</remarks>
internal sealed class AgentPolicyConfiguration
{
    /// <summary>The key of a policy inside an agent's credential options.</summary>
    public const string SectionName = "Policy";

    public List<string>? Services { get; set; }

    public List<string>? Actions { get; set; }

    public List<string>? Tools { get; set; }

    public List<string>? DelegationTargets { get; set; }

    public int MaxDelegationDepth { get; set; }

    /// <summary>Reads the policy at <paramref name="parent"/>:<c>Policy</c>.</summary>
    /// <returns>The policy, or <see langword="null"/> when the section does not exist.</returns>
    /// <exception cref="InvalidOperationException">A key is not a policy member, a value does not convert, or a pattern or the
    /// depth is invalid; the message names the full key.</exception>
    public static AgentPolicy? Read(IConfiguration parent)
    {
        var section = parent.GetSection(SectionName);
        if (!section.Exists())
        {
            return null;
        }

        var shape = new AgentPolicyConfiguration();
        ConfigurationBinding.Run(section, () => section.Bind(shape, ConfigurationBinding.Strict));
        Check(section, nameof(Services), AgentPolicy.ValidateSpiffePattern);
        Check(section, nameof(Actions), AgentPolicy.ValidateActionPattern);
        Check(section, nameof(Tools), AgentPolicy.ValidateToolPattern);
        Check(section, nameof(DelegationTargets), AgentPolicy.ValidateSpiffePattern);
        if (shape.MaxDelegationDepth is < 0 or > AgentPolicy.MaxDelegationDepthLimit)
        {
            throw new InvalidOperationException(
                $"Configuration key '{KeyPath(section, nameof(MaxDelegationDepth))}': the delegation depth {shape.MaxDelegationDepth} must be between 0 and {AgentPolicy.MaxDelegationDepthLimit}.");
        }

        try
        {
            return new AgentPolicy(shape.Services, shape.Actions, shape.Tools, shape.MaxDelegationDepth, shape.DelegationTargets);
        }
        catch (ArgumentException ex)
        {
            // The limits of the whole policy: a list longer than AgentPolicy.MaxListLength, or an encoding over MaxEncodedLength.
            throw new InvalidOperationException($"Configuration key '{section.Path}': {ex.Message}", ex);
        }
    }

    /// <summary>Checks each element of one list, naming the element's key as written (<c>…:Policy:tools:0</c>).</summary>
    private static void Check(IConfigurationSection policy, string member, Func<string, string?> rule)
    {
        var list = policy.GetChildren().FirstOrDefault(c => c.Key.Equals(member, StringComparison.OrdinalIgnoreCase));
        if (list is null)
        {
            return;
        }

        if (list.Value is { Length: > 0 } single)
        {
            throw new InvalidOperationException($"Configuration key '{list.Path}' holds the single value '{AgentPolicy.Truncate(single)}'; it must be a list (JSON array) of patterns.");
        }

        foreach (var element in list.GetChildren())
        {
            if (element.Value is not { } pattern || rule(pattern) is not { } error)
            {
                continue;
            }

            throw new InvalidOperationException($"Configuration key '{element.Path}': the {Camel(member)} pattern '{AgentPolicy.Truncate(pattern)}' is invalid: {error}.");
        }
    }

    private static string KeyPath(IConfigurationSection policy, string member) =>
        policy.GetChildren().FirstOrDefault(c => c.Key.Equals(member, StringComparison.OrdinalIgnoreCase))?.Path ?? ConfigurationPath.Combine(policy.Path, member);

    private static string Camel(string member) => string.Concat(member[..1].ToLowerInvariant(), member.AsSpan(1));
}
