using AgentIdentity;
using AgentIdentity.AI;
using AgentIdentity.Tools;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.AI;

/// <summary>Adds AgentIdentity to a <see cref="ChatClientBuilder"/> and to single functions.</summary>
public static class AgentIdentityChatClientBuilderExtensions
{
    /// <summary>
    /// Guards every function call of the pipeline with the agent's identity: kill switch, certificate policy ∩ local policy,
    /// <see cref="AgentCallContext"/>, audit. Call it <b>before</b> <c>UseFunctionInvocation()</c>.
    /// </summary>
    /// <param name="builder">The chat client builder.</param>
    /// <param name="identity">The agent's identity; <see langword="null"/> for the <see cref="IX509SvidSource"/> of the builder's services
    /// (from <c>services.AddAgentIdentity()</c>).</param>
    /// <param name="configure">Configures the guard; the audit sink and revocation seam default to the registered ones (else a logging sink).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">At build time: no identity was given and none is registered.</exception>
    public static ChatClientBuilder UseAgentIdentity(this ChatClientBuilder builder, IX509SvidSource? identity = null, Action<ToolCallGuardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) => new AgentIdentityChatClient(inner, CreateMiddleware(services, identity, configure)));
    }

    /// <summary>Wraps one function so that every call runs under <paramref name="middleware"/>.</summary>
    /// <param name="function">The function.</param>
    /// <param name="middleware">The middleware bound to the agent's identity.</param>
    /// <returns>The guarded function (the same name, description and schema).</returns>
    public static AIFunction WithAgentIdentity(this AIFunction function, AgentIdentityFunctionMiddleware middleware)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(middleware);
        return function as AgentIdentityFunction ?? new AgentIdentityFunction(function, middleware);
    }

    /// <summary>Creates the middleware for an identity, with the services' audit sink, revocation seam, clock and logging as defaults
    /// (those of <see cref="ToolCallGuard.Create"/>, the same as the Semantic Kernel filters').</summary>
    /// <param name="services">The services; may be <see langword="null"/>.</param>
    /// <param name="identity">The agent's identity; <see langword="null"/> for the registered <see cref="IX509SvidSource"/>.</param>
    /// <param name="configure">Configures the guard; may be <see langword="null"/>.</param>
    /// <returns>The middleware.</returns>
    /// <exception cref="InvalidOperationException">No identity was given and none is registered.</exception>
    public static AgentIdentityFunctionMiddleware CreateMiddleware(IServiceProvider? services, IX509SvidSource? identity = null, Action<ToolCallGuardOptions>? configure = null)
    {
        identity ??= services?.GetService<IX509SvidSource>() ?? throw new InvalidOperationException(
            "UseAgentIdentity() needs the agent's identity: pass it (an AgentCredential), or call services.AddAgentIdentity(...) and build the chat client with those services.");
        var guard = ToolCallGuard.Create(services, identity, configure, AIJsonUtilities.DefaultOptions);
        return new AgentIdentityFunctionMiddleware(guard, services?.GetService<ILoggerFactory>()?.CreateLogger<AgentIdentityFunctionMiddleware>());
    }
}
