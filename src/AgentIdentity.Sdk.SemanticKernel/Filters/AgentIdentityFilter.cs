using System.Runtime.CompilerServices;
using AgentIdentity.Tools;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.SemanticKernel;

namespace AgentIdentity.SemanticKernel;

/// <summary>
/// The Semantic Kernel filter that attaches one agent's identity to every function (tool) call of a kernel: it trips the kill
/// switch when the identity is unavailable, expired or revoked, enforces the certificate's tool and action allow-lists (and an
/// optional local policy), makes an <see cref="AgentCallContext"/> current while the function runs (so that agent HttpClients send
/// the identity and attribution), and writes one audit event per call.
/// </summary>
/// <remarks>
/// <para>Register it with <c>services.AddAgentIdentityFilters()</c>, <c>kernelBuilder.AddAgentIdentityFilters(...)</c> or
/// <c>kernel.UseAgentIdentity(...)</c>. It is both an <see cref="IFunctionInvocationFilter"/> (every invocation, direct or automatic)
/// and an <see cref="IAutoFunctionInvocationFilter"/> (adds the model's tool-call id and sequence, and ends the function-calling
/// loop on a kill switch). A refused call does not throw: the function's result becomes a message for the model and
/// <see cref="FunctionResult.Metadata"/> carries <see cref="DenialMetadataKey"/>.</para>
/// <para>Bind one filter to one agent identity; kernels of different agents get different filters. Thread-safe.</para>
/// </remarks>
public sealed class AgentIdentityFilter : IFunctionInvocationFilter, IAutoFunctionInvocationFilter
{
    /// <summary>The <see cref="FunctionResult.Metadata"/> key of a refused call; its value is the <see cref="ToolCallDenialKind"/> name.</summary>
    public const string DenialMetadataKey = "agentidentity.denial";

    private static readonly AsyncLocal<PendingToolCall?> Pending = new();
    private static readonly ConditionalWeakTable<KernelFunction, string> ToolNames = [];

    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="AgentIdentityFilter"/> class.</summary>
    /// <param name="guard">The guard bound to the agent's identity.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    public AgentIdentityFilter(ToolCallGuard guard, ILogger<AgentIdentityFilter>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        Guard = guard;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the guard (and so the identity) this filter is bound to.</summary>
    public ToolCallGuard Guard { get; }

    /// <inheritdoc/>
    public async Task OnFunctionInvocationAsync(FunctionInvocationContext context, Func<FunctionInvocationContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var function = context.Function;
        var toolName = GetToolName(function);
        PendingToolCall? pending = null;
        if (Pending.Value is { Consumed: false } candidate && ReferenceEquals(candidate.Owner, this) && string.Equals(candidate.ToolName, toolName, StringComparison.Ordinal))
        {
            pending = candidate;
            candidate.Consumed = true;
        }
        else if (IsPromptFunction(function))
        {
            // A prompt function invoked by code (kernel.InvokePromptAsync, a prompt plugin called directly) is a model call, not a
            // tool call: the tools the model then asks for pass through this filter on their own. A prompt function the model
            // calls as a tool arrives with a pending auto-invocation and is guarded like any other tool.
            await next(context);
            return;
        }

        var call = new ToolCall
        {
            ToolName = toolName,
            PluginName = function.PluginName,
            FunctionName = function.Name,
            ToolCallId = pending?.ToolCallId,
            Sequence = pending?.Sequence,
            Iteration = pending?.Iteration,
            Action = Guard.GetConfiguredAction(toolName) ?? GetDeclaredAction(function),
            Arguments = context.Arguments,
        };
        var outcome = await Guard.InvokeAsync(call, (context, next), static s => new ValueTask(s.next(s.context)), context.CancellationToken);
        if (outcome.WasInvoked)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.ToolCallCompleted(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString());
            }

            return;
        }

        if (pending is not null)
        {
            pending.Outcome = outcome;
        }

        var reason = outcome.Reason ?? "denied";
        if (outcome.IsKillSwitch)
        {
            _logger.ToolCallKillSwitch(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString(), new(outcome.Denial), reason);
        }
        else
        {
            _logger.ToolCallDenied(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString(), new(outcome.Denial), reason);
        }

        context.Result = new FunctionResult(function, outcome.GetModelMessage(), metadata: new Dictionary<string, object?>
        {
            [DenialMetadataKey] = outcome.Denial.ToString(),
        });
    }

    /// <inheritdoc/>
    public async Task OnAutoFunctionInvocationAsync(AutoFunctionInvocationContext context, Func<AutoFunctionInvocationContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var pending = new PendingToolCall(this, GetToolName(context.Function), context.ToolCallId, context.FunctionSequenceIndex, context.RequestSequenceIndex);
        var previous = Pending.Value;
        Pending.Value = pending;
        try
        {
            await next(context);
        }
        finally
        {
            Pending.Value = previous;
        }

        if (pending.Outcome is { IsKillSwitch: true } outcome && Guard.TerminateOnKillSwitch)
        {
            context.Terminate = true;
            _logger.ChatTerminated(outcome.Agent.ToString(), pending.ToolName, pending.ToolCallId ?? "-");
        }
    }

    private static bool IsPromptFunction(KernelFunction function) =>
        string.Equals(function.GetType().FullName, "Microsoft.SemanticKernel.KernelFunctionFromPrompt", StringComparison.Ordinal);

    private static string GetToolName(KernelFunction function) =>
        ToolNames.GetValue(function, static f => ToolCall.GetToolName(f.PluginName, f.Name));

    private static string? GetDeclaredAction(KernelFunction function) =>
        function.Metadata.AdditionalProperties.TryGetValue(ToolCallGuardOptions.ActionPropertyName, out var value) ? value as string : null;

    /// <summary>What the auto-invocation filter knows about the call the function filter is about to see.</summary>
    private sealed class PendingToolCall(AgentIdentityFilter owner, string toolName, string? toolCallId, int sequence, int iteration)
    {
        public AgentIdentityFilter Owner { get; } = owner;

        public string ToolName { get; } = toolName;

        public string? ToolCallId { get; } = toolCallId;

        public int Sequence { get; } = sequence;

        public int Iteration { get; } = iteration;

        public bool Consumed { get; set; }

        public ToolCallOutcome? Outcome { get; set; }
    }
}
