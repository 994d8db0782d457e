using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options of <c>services.AddAgentIdentity()</c>.</summary>
/// <remarks>Bound from configuration by <c>AddAgentIdentity(IConfiguration)</c> (keys <c>TrustDomain</c>, <c>AgentName</c>,
/// <c>Credential:Lifetime</c>, …) and validated at start-up.</remarks>
public sealed class AgentIdentityOptions
{
    /// <summary>Gets or sets the trust domain of the agents, for example <c>example.org</c>. Required.</summary>
    [Required(ErrorMessage = "{0} is required, for example 'example.org'.")]
    [TrustDomainName]
    public string? TrustDomain { get; set; }

    /// <summary>Gets or sets the name of the process's default agent. When set, an <see cref="AgentCredential"/> for a new
    /// instance of it is registered as a singleton (and as <see cref="IX509SvidSource"/>) and is ready before the host starts.</summary>
    /// <value>The default value is <see langword="null"/>: no default agent.</value>
    [SpiffePathSegment]
    public string? AgentName { get; set; }

    /// <summary>Gets the options every agent credential starts from; <c>AddAgent(name, configure)</c> adjusts them per agent.</summary>
    [ValidateObjectMembers(typeof(AgentCredentialOptionsValidator))]
    public AgentCredentialOptions Credential { get; } = new();
}

/// <summary>The attribute rules of <see cref="AgentIdentityOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentIdentityOptionsValidator : IValidateOptions<AgentIdentityOptions>;

/// <summary>The rules of <see cref="AgentIdentityOptions"/> that attributes cannot express: the credential defaults' cross-field
/// rule, and each agent declared once.</summary>
internal sealed class AgentIdentityOptionsRules(IEnumerable<AgentRegistration> registrations) : IValidateOptions<AgentIdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentIdentityOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        builder.AddResult(AgentCredentialOptionsRules.Instance.Validate($"{OptionsValidation.DisplayName(name, nameof(AgentIdentityOptions))}.{nameof(AgentIdentityOptions.Credential)}", options.Credential));
        foreach (var duplicate in registrations.Where(r => r.IsDeclaration).GroupBy(r => r.AgentName, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            builder.AddError($"AddAgent(\"{duplicate.Key}\") is called {duplicate.Count()} times; declare each agent once, with all of its options in one configure callback.");
        }

        return builder.Build();
    }
}
