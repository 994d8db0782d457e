using System.Net.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity;

/// <summary>Creates agent HttpClient handlers outside of IHttpClientFactory, for credentials made at run time such as task identities
/// from <see cref="AgentCredential.DelegateAsync"/>: the same rotation-safe mTLS, server authentication, attribution headers and RFC 8705
/// bound tokens as <c>AddHttpClient(...).AddAgentIdentity(...)</c>.</summary>
public static class AgentHttpClient
{
    /// <summary>Creates a handler that presents <paramref name="credential"/>'s current SVID on every request.</summary>
    /// <param name="credential">The credential to present, for example a task credential.</param>
    /// <param name="configure">Configures the client's options (server ID, bound tokens, ...); <see cref="AgentHttpClientOptions.AgentName"/> is ignored.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <param name="loggerFactory">Logging; <see langword="null"/> for none.</param>
    /// <returns>A handler for <c>new HttpClient(handler)</c>. Disposing it (or the HttpClient) closes its connections and token cache;
    /// reuse it for the life of the credential, as you would a <see cref="SocketsHttpHandler"/>.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    /// <exception cref="InvalidOperationException">No trust bundle is available to verify servers.</exception>
    public static HttpMessageHandler CreateHandler(
        IX509SvidSource credential,
        Action<AgentHttpClientOptions>? configure = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var options = new AgentHttpClientOptions();
        configure?.Invoke(options);
        options.AgentName = null;
        var name = credential is AgentCredential c ? c.Id.ToString() : nameof(AgentHttpClient);
        if (AgentHttpClientOptionsRules.ValidateAll(name, options) is { } error)
        {
            throw new ArgumentException(error, nameof(configure));
        }

        var state = AgentHttpClientHandlers.CreateState(name, options, credential, options.TrustBundleSource, timeProvider ?? TimeProvider.System, loggerFactory ?? NullLoggerFactory.Instance);
        return new BoundTokenHandler(state, name, ownsState: true);
    }
}
