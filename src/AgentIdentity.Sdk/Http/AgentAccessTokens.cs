using System.Net.Http;

namespace AgentIdentity;

/// <summary>The RFC 8705 certificate-bound access tokens of agent HttpClients, for code that needs the token itself: typically the
/// subject token a task identity exchanges (<see cref="BoundTokenOptions.SubjectTokenSource"/>). Registered by
/// <c>AddHttpClient(...).AddAgentIdentity(...)</c>.</summary>
public sealed class AgentAccessTokens
{
    private readonly AgentHttpClientHandlers _handlers;

    internal AgentAccessTokens(AgentHttpClientHandlers handlers)
    {
        _handlers = handlers;
    }

    /// <summary>Returns the bound token of the named agent HttpClient for the certificate it presents now: the cached one while fresh,
    /// else a new one (single-flight).</summary>
    /// <param name="httpClientName">The name the client was registered with.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The access token, bound to the client's current certificate.</returns>
    /// <exception cref="InvalidOperationException">The client has no bound tokens configured.</exception>
    /// <exception cref="BoundTokenException">No token could be obtained.</exception>
    public ValueTask<string> GetAccessTokenAsync(string httpClientName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(httpClientName);
        return _handlers.Get(httpClientName).GetAccessTokenAsync(httpClientName, cancellationToken);
    }

    /// <summary>Returns the bound token of a handler made by <see cref="AgentHttpClient.CreateHandler"/>, for the certificate it presents now.</summary>
    /// <param name="handler">The handler.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The access token, bound to the handler's current certificate.</returns>
    /// <exception cref="ArgumentException">The handler was not made by <see cref="AgentHttpClient.CreateHandler"/>.</exception>
    /// <exception cref="InvalidOperationException">The handler has no bound tokens configured.</exception>
    /// <exception cref="BoundTokenException">No token could be obtained.</exception>
    public static ValueTask<string> GetAccessTokenAsync(HttpMessageHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return handler is BoundTokenHandler agent
            ? agent.State.GetAccessTokenAsync(agent.Name, cancellationToken)
            : throw new ArgumentException("The handler was not created by AgentHttpClient.CreateHandler.", nameof(handler));
    }
}
