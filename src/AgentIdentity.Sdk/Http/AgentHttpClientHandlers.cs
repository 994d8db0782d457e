using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Owns, per named HttpClient, the long-lived generation handler and token cache. IHttpClientFactory recycles only thin wrappers.</summary>
internal sealed class AgentHttpClientHandlers : IDisposable
{
    private readonly IServiceProvider _services;
    private readonly IOptionsMonitor<AgentHttpClientOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConcurrentDictionary<string, Lazy<ClientState>> _clients = new(StringComparer.Ordinal);
    private int _disposed;

    public AgentHttpClientHandlers(IServiceProvider services, IOptionsMonitor<AgentHttpClientOptions> options, TimeProvider time, ILoggerFactory? loggerFactory = null)
    {
        _services = services;
        _options = options;
        _time = time;
        _loggerFactory = loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
    }

    public ClientState Get(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _clients.GetOrAdd(name, n => new Lazy<ClientState>(() => Create(n))).Value;
    }

    private ClientState Create(string name)
    {
        var options = _options.Get(name);
        var source = ResolveSource(name, options);
        return CreateState(name, options, source, options.TrustBundleSource ?? _services.GetService<ITrustBundleSource>(), _time, _loggerFactory);
    }

    /// <summary>Builds the generation handler and, when configured, the token cache of one client presenting <paramref name="source"/>.</summary>
    internal static ClientState CreateState(string name, AgentHttpClientOptions options, IX509SvidSource source, ITrustBundleSource? bundles, TimeProvider time, ILoggerFactory loggerFactory)
    {
        var trustDomain = source is AgentCredential credential ? credential.Id.TrustDomain : source.GetCurrent().Id.TrustDomain;
        bundles ??= source is AgentCredential c ? new CredentialBundleSource(c) : null;
        if (bundles is null && (!options.UseWebPkiServerValidation || (options.Token.IsEnabled && !options.Token.UseWebPkiServerValidation)))
        {
            throw new InvalidOperationException(
                $"HttpClient '{name}' cannot verify servers: no trust bundle is available. Register an ITrustBundleSource (UseDevelopmentCertificateAuthority() does), " +
                "set AgentHttpClientOptions.TrustBundleSource, or set UseWebPkiServerValidation for servers without an SVID.");
        }

        var logger = loggerFactory.CreateLogger("AgentIdentity.Http");
        var generations = new GenerationHandler(
            name, source, bundles, options, options.UseWebPkiServerValidation ? null : options.GetServerAuthorizer(trustDomain), time, logger, enforceServicePolicy: options.EnforceServicePolicy);
        BoundTokenCache? tokens = null;
        if (options.Token.IsEnabled)
        {
            var tokenOptions = options.Token;
            var asOptions = new AgentHttpClientOptions
            {
                AgentName = options.AgentName,
                UseWebPkiServerValidation = tokenOptions.UseWebPkiServerValidation,
                ServerAuthorizer = tokenOptions.ServerAuthorizer,
                ServerId = tokenOptions.ServerId,
                AllowTlsResume = options.AllowTlsResume,
                PooledConnectionLifetime = options.PooledConnectionLifetime,
                DrainTimeout = options.DrainTimeout,
                ConfigureHandler = options.ConfigureHandler,
            };
            var authorizationServer = new GenerationHandler(
                name + " (token endpoint)", source, bundles, asOptions, tokenOptions.UseWebPkiServerValidation ? null : asOptions.GetServerAuthorizer(trustDomain), time, logger);
            tokens = new BoundTokenCache(new BoundTokenClient(name, tokenOptions, authorizationServer, time), time, logger);
        }

        return new ClientState(name, generations, tokens, options, logger);
    }

    private IX509SvidSource ResolveSource(string name, AgentHttpClientOptions options)
    {
        if (options.AgentName is { } agent)
        {
            return _services.GetKeyedService<IX509SvidSource>(agent)
                ?? throw new InvalidOperationException($"HttpClient '{name}' uses agent '{agent}', which is not registered; call services.AddAgentIdentity(...).AddAgent(\"{agent}\").");
        }

        return _services.GetService<IX509SvidSource>()
            ?? throw new InvalidOperationException($"HttpClient '{name}' needs an agent credential; call services.AddAgentIdentity(o => {{ o.TrustDomain = ...; o.AgentName = ...; }}) or set AgentHttpClientOptions.AgentName.");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var client in _clients.Values)
        {
            if (client.IsValueCreated)
            {
                client.Value.Dispose();
            }
        }
    }

    internal sealed class ClientState(string name, GenerationHandler generations, BoundTokenCache? tokens, AgentHttpClientOptions options, ILogger logger) : IDisposable
    {
        public string Name { get; } = name;

        /// <summary>Gets the generation handler (mTLS) towards the resources.</summary>
        public GenerationHandler Generations { get; } = generations;

        /// <summary>Gets the bound-token cache, or <see langword="null"/> when the client sends no tokens.</summary>
        public BoundTokenCache? Tokens { get; } = tokens;

        public AgentHttpClientOptions Options { get; } = options;

        public ILogger Logger { get; } = logger;

        /// <summary>Returns the bound token for the certificate the client presents now (from the cache when fresh).</summary>
        public async ValueTask<string> GetAccessTokenAsync(string name, CancellationToken cancellationToken)
        {
            var tokens = Tokens ?? throw new InvalidOperationException($"HttpClient '{name}' has no bound tokens: set Token.Authority or Token.TokenEndpoint in its AgentHttpClientOptions.");
            var token = await BoundTokenHandler.WithCurrentCertificateAsync(Generations, static (svid, t, ct) => t.GetTokenAsync(svid, ct), tokens, cancellationToken).ConfigureAwait(false);
            return token.AccessToken;
        }

        public void Dispose()
        {
            Tokens?.Dispose();
            Generations.Dispose();
        }
    }

    private sealed class CredentialBundleSource(AgentCredential credential) : ITrustBundleSource
    {
        public bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle) =>
            credential.Bundle.TryGetBundle(trustDomain, out bundle);
    }
}
