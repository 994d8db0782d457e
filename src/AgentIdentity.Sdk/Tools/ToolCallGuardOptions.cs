using AgentIdentity.Audit;
using Microsoft.Extensions.Configuration;

namespace AgentIdentity.Tools;

/// <summary>Options of <see cref="ToolCallGuard"/>: the local policy, the audit sink, the revocation seam and argument recording.</summary>
/// <remarks>Not thread-safe while being configured; the guard copies what it needs when it is created.</remarks>
public sealed class ToolCallGuardOptions
{
    /// <summary>The key under which a function's metadata may declare its action (for example <c>invoices:read</c>).</summary>
    public const string ActionPropertyName = "agentidentity.action";

    /// <summary>Gets or sets the application's own rule, intersected with the certificate's policy.</summary>
    /// <value>The default value is <see langword="null"/>: only the certificate's policy applies.</value>
    public ToolCallAuthorizer? LocalPolicy { get; set; }

    /// <summary>Gets or sets where audit events go.</summary>
    /// <value>The default value is <see langword="null"/>: the DI registrations use the registered <see cref="IAuditSink"/>
    /// or else a <see cref="LoggingAuditSink"/> when the registered logging records audit events, and refuse to start when neither
    /// exists; a guard constructed directly without one writes no audit events.</value>
    public IAuditSink? AuditSink { get; set; }

    /// <summary>Gets or sets the revocation seam consulted before every call (the kill switch).</summary>
    /// <value>The default value is <see langword="null"/>: the DI registrations use the registered <see cref="IRevocationStatus"/>, if any;
    /// without one only expiry and availability trip the kill switch.</value>
    public IRevocationStatus? RevocationStatus { get; set; }

    /// <summary>Gets the actions of tools by tool name (policy form, <c>Plugin.Function</c>), for example
    /// <c>["Erp.GetInvoice"] = "invoices:read"</c>. A tool listed here must also be allowed that action by the certificate.</summary>
    /// <remarks>Functions can also declare their action in their metadata under <see cref="ActionPropertyName"/>; this map wins.</remarks>
    public IDictionary<string, string> ToolActions { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets or sets a value indicating whether an SVID without a policy extension may call tools (then only
    /// <see cref="LocalPolicy"/> applies).</summary>
    /// <value>The default value is <see langword="false"/>: fail closed, an SVID without a policy may call no tool.</value>
    public bool AllowWithoutCertificatePolicy { get; set; }

    /// <summary>Gets or sets a value indicating whether raw argument values are written to the audit log next to their hashes.</summary>
    /// <value>The default value is <see langword="false"/>: arguments may hold secrets or personal data, so only SHA-256 hashes are kept.</value>
    public bool RecordArgumentValues { get; set; }

    /// <summary>Gets or sets the key under which argument values are hashed (HMAC-SHA256, recorded as <c>hmac-sha256</c>).</summary>
    /// <value>The default is <see langword="null"/>: the DI registrations use the registered <see cref="Audit.AuditArgumentKey"/>
    /// (<c>AddAuditLog</c> registers one, from <c>ArgumentKeyFile</c>); without one, values are hashed with unkeyed SHA-256.</value>
    public Audit.AuditArgumentKey? ArgumentKey { get; set; }

    /// <summary>Gets or sets how a structured argument value is turned into the text that is hashed; strings, numbers, booleans and
    /// JSON elements are formatted without it.</summary>
    /// <value>The default value is <see langword="null"/>: the integrations use JSON; otherwise <see cref="object.ToString"/>.</value>
    public Func<object, string?>? ArgumentFormatter { get; set; }

    /// <summary>Gets or sets a value indicating whether a kill-switch refusal also ends the model's function-calling loop
    /// (<c>Terminate</c>), so that the agent stops rather than trying other tools.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool TerminateOnKillSwitch { get; set; } = true;

    /// <summary>Sets the options that configuration can hold from <paramref name="configuration"/> (for example the
    /// <c>AgentIdentity:ToolGuard</c> section): <c>AllowWithoutCertificatePolicy</c>, <c>RecordArgumentValues</c>,
    /// <c>TerminateOnKillSwitch</c> and <c>ToolActions</c> (<c>{ "Erp.GetInvoice": "invoices:read" }</c>); only the keys present change
    /// them. The local policy, sinks and formatter are code-only.</summary>
    /// <param name="configuration">The section.</param>
    /// <returns>These options.</returns>
    /// <exception cref="InvalidOperationException">A key is not one of these options, a value does not convert, or a tool name or
    /// action is invalid; the message names the full configuration key.</exception>
    /// <remarks>Binding is source-generated (AOT-safe). Use it in the <c>configure</c> callback of the integrations:
    /// <c>AddAgentIdentityFilters(o =&gt; o.Bind(configuration.GetSection("AgentIdentity:ToolGuard")))</c>.</remarks>
    public ToolCallGuardOptions Bind(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ToolCallGuardConfiguration.Bind(configuration, this);
        return this;
    }

    /// <summary>Copies the options.</summary>
    /// <returns>An independent copy.</returns>
    public ToolCallGuardOptions Clone()
    {
        var clone = new ToolCallGuardOptions
        {
            LocalPolicy = LocalPolicy,
            AuditSink = AuditSink,
            RevocationStatus = RevocationStatus,
            AllowWithoutCertificatePolicy = AllowWithoutCertificatePolicy,
            RecordArgumentValues = RecordArgumentValues,
            ArgumentKey = ArgumentKey,
            ArgumentFormatter = ArgumentFormatter,
            TerminateOnKillSwitch = TerminateOnKillSwitch,
        };
        foreach (var (tool, action) in ToolActions)
        {
            clone.ToolActions[tool] = action;
        }

        return clone;
    }
}

/// <summary>The configurable part of <see cref="ToolCallGuardOptions"/>, bound by the source generator (the options type also holds
/// delegates and sinks, which the generator cannot skip).</summary>
internal sealed class ToolCallGuardConfiguration
{
    public bool? AllowWithoutCertificatePolicy { get; set; }

    public bool? RecordArgumentValues { get; set; }

    public bool? TerminateOnKillSwitch { get; set; }

    public Dictionary<string, string> ToolActions { get; } = new(StringComparer.Ordinal);

    public static void Bind(IConfiguration configuration, ToolCallGuardOptions options)
    {
        var shape = new ToolCallGuardConfiguration();
        ConfigurationBinding.Run(configuration, () => configuration.Bind(shape, ConfigurationBinding.Strict));
        foreach (var entry in configuration.GetSection(nameof(ToolActions)).GetChildren())
        {
            var toolError = PolicyPatterns.ValidateNamePattern(entry.Key, AgentPolicy.ToolSeparator, allowDotInSegment: false, AgentPolicy.MaxNamePatternLength, allowWildcard: false);
            var actionError = entry.Value is { } action
                ? PolicyPatterns.ValidateNamePattern(action, AgentPolicy.ActionSeparator, allowDotInSegment: true, AgentPolicy.MaxNamePatternLength, allowWildcard: false)
                : "it must be an action name such as 'invoices:read'";
            if ((toolError ?? actionError) is not null)
            {
                throw new InvalidOperationException(toolError is not null
                    ? $"Configuration key '{entry.Path}': the tool name '{AgentPolicy.Truncate(entry.Key)}' is invalid: {toolError}."
                    : $"Configuration key '{entry.Path}': the action '{AgentPolicy.Truncate(entry.Value ?? string.Empty)}' is invalid: {actionError}.");
            }
        }

        options.AllowWithoutCertificatePolicy = shape.AllowWithoutCertificatePolicy ?? options.AllowWithoutCertificatePolicy;
        options.RecordArgumentValues = shape.RecordArgumentValues ?? options.RecordArgumentValues;
        options.TerminateOnKillSwitch = shape.TerminateOnKillSwitch ?? options.TerminateOnKillSwitch;
        foreach (var (tool, action) in shape.ToolActions)
        {
            options.ToolActions[tool] = action;
        }
    }
}
