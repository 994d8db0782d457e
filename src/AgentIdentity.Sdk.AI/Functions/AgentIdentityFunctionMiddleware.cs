using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity.AI;

/// <summary>
/// Function-invocation middleware that attaches one agent's identity to every <see cref="AIFunction"/> call: the kill switch
/// (identity unavailable, expired or revoked), the certificate's tool and action allow-lists with an optional local policy, the
/// <see cref="AgentCallContext"/> the function runs in (so agent HttpClients send identity and attribution), and one audit event.
/// </summary>
/// <remarks>
/// <para>Used by <c>ChatClientBuilder.UseAgentIdentity()</c> (through <see cref="AgentIdentityFunction"/>), and directly as Agent
/// Framework function middleware: <c>agent.AsBuilder().Use((agent, context, next, ct) =&gt; middleware.InvokeAsync(context, next, ct)).Build()</c>.
/// A refused call does not throw: its result is a message for the model. The tool name is the function's
/// <see cref="AITool.Name"/>. Bind one middleware to one agent identity. Thread-safe.</para>
/// </remarks>
public sealed class AgentIdentityFunctionMiddleware
{
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="AgentIdentityFunctionMiddleware"/> class.</summary>
    /// <param name="guard">The guard bound to the agent's identity.</param>
    /// <param name="logger">The logger; <see langword="null"/> for none.</param>
    public AgentIdentityFunctionMiddleware(ToolCallGuard guard, ILogger<AgentIdentityFunctionMiddleware>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        Guard = guard;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the guard (and so the identity) this middleware is bound to.</summary>
    public ToolCallGuard Guard { get; }

    /// <summary>Runs one function call under the guard, in the shape of Agent Framework function middleware.</summary>
    /// <param name="context">The invocation context of <see cref="FunctionInvokingChatClient"/>.</param>
    /// <param name="next">Invokes the function (or the next middleware).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The function's result, or the refusal message for the model.</returns>
    public ValueTask<object?> InvokeAsync(
        FunctionInvocationContext context,
        Func<FunctionInvocationContext, CancellationToken, ValueTask<object?>> next,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        return InvokeCoreAsync(context.Function, context.Arguments, context, (context, next, cancellationToken), static s => s.next(s.context, s.cancellationToken), cancellationToken);
    }

    internal async ValueTask<object?> InvokeCoreAsync<TState>(
        AIFunction function,
        AIFunctionArguments arguments,
        FunctionInvocationContext? context,
        TState state,
        Func<TState, ValueTask<object?>> invoke,
        CancellationToken cancellationToken)
    {
        var toolName = function.Name;
        var call = new ToolCall
        {
            ToolName = toolName,
            FunctionName = toolName,
            ToolCallId = context?.CallContent?.CallId,
            Sequence = context?.FunctionCallIndex,
            Iteration = context?.Iteration,
            Action = Guard.GetConfiguredAction(toolName) ?? GetDeclaredAction(function),
            Arguments = arguments,
        };
        var holder = new ResultHolder<TState>(state, invoke);
        var outcome = await Guard.InvokeAsync(call, holder, static async h => h.Result = await h.Invoke(h.State), cancellationToken);
        if (outcome.WasInvoked)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.FunctionCallCompleted(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString());
            }

            return holder.Result;
        }

        var reason = outcome.Reason ?? "denied";
        if (outcome.IsKillSwitch)
        {
            _logger.FunctionCallKillSwitch(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString(), outcome.Denial, reason);
            if (context is not null && Guard.TerminateOnKillSwitch)
            {
                context.Terminate = true;
            }
        }
        else
        {
            _logger.FunctionCallDenied(toolName, call.ToolCallId ?? "-", outcome.Agent.ToString(), outcome.Denial, reason);
        }

        return outcome.GetModelMessage();
    }

    private static string? GetDeclaredAction(AIFunction function) =>
        function.AdditionalProperties.TryGetValue(ToolCallGuardOptions.ActionPropertyName, out var value) ? value as string : null;

    private sealed class ResultHolder<TState>(TState state, Func<TState, ValueTask<object?>> invoke)
    {
        public TState State { get; } = state;

        public Func<TState, ValueTask<object?>> Invoke { get; } = invoke;

        public object? Result { get; set; }
    }
}

/// <summary>An <see cref="AIFunction"/> that runs under <see cref="AgentIdentityFunctionMiddleware"/>; <c>UseAgentIdentity()</c> wraps tools in it.</summary>
/// <remarks>Thread-safe when the inner function is.</remarks>
public sealed class AgentIdentityFunction : DelegatingAIFunction
{
    /// <summary>Initializes a new instance of the <see cref="AgentIdentityFunction"/> class.</summary>
    /// <param name="innerFunction">The function to guard.</param>
    /// <param name="middleware">The middleware bound to the agent's identity.</param>
    public AgentIdentityFunction(AIFunction innerFunction, AgentIdentityFunctionMiddleware middleware)
        : base(innerFunction)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        Middleware = middleware;
    }

    /// <summary>Gets the middleware this function runs under.</summary>
    public AgentIdentityFunctionMiddleware Middleware { get; }

    /// <inheritdoc/>
    protected override ValueTask<object?> InvokeCoreAsync(AIFunctionArguments arguments, CancellationToken cancellationToken) =>
        Middleware.InvokeCoreAsync(
            InnerFunction,
            arguments,
            FunctionInvokingChatClient.CurrentContext,
            (InnerFunction, arguments, cancellationToken),
            static s => s.InnerFunction.InvokeAsync(s.arguments, s.cancellationToken),
            cancellationToken);
}
