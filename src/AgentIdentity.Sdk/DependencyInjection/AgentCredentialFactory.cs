using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

internal sealed class AgentCredentialFactory : IAgentCredentialFactory, IAsyncDisposable
{
    private readonly IX509SvidIssuer _issuer;
    private readonly IOptionsMonitor<AgentCredentialOptions> _credentialOptions;
    private readonly TimeProvider _time;
    private readonly ILogger<AgentCredential> _logger;
    private readonly AgentIdentityMetrics _metrics;
    private readonly ConcurrentDictionary<AgentCredential, byte> _credentials = new();
    private readonly ConcurrentDictionary<string, Lazy<AgentCredential>> _named = new(StringComparer.Ordinal);
    private int _disposed;

    public AgentCredentialFactory(IX509SvidIssuer issuer, IOptions<AgentIdentityOptions> options, IOptionsMonitor<AgentCredentialOptions> credentialOptions, TimeProvider time, ILogger<AgentCredential> logger, AgentIdentityMetrics metrics)
    {
        _issuer = issuer;
        _credentialOptions = credentialOptions;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        TrustDomain = AgentIdentity.TrustDomain.Parse(options.Value.TrustDomain ?? string.Empty);
    }

    public TrustDomain TrustDomain { get; }

    public IEnumerable<AgentCredential> Credentials => _credentials.Keys;

    /// <summary>Raised after a credential is created (before its first SVID), on the creating thread; the revocation subscription watches it.</summary>
    internal event Action<AgentCredential>? CredentialCreated;

    /// <summary>Raised after a credential created here is disposed.</summary>
    internal event Action<AgentCredential>? CredentialDisposed;

    public async Task<AgentCredential> CreateAsync(string agentName, Action<AgentCredentialOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var credential = Create(agentName, configure);
        try
        {
            await credential.WhenReadyAsync(cancellationToken).ConfigureAwait(false);
            return credential;
        }
        catch
        {
            _credentials.TryRemove(credential, out _);
            await credential.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public AgentCredential Create(string agentName, Action<AgentCredentialOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(agentName);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var id = SpiffeId.NewAgentInstance(TrustDomain, agentName);
        // The agent's named options: AgentIdentityOptions.Credential, adjusted by AddAgent(agentName, configure) when declared.
        var options = _credentialOptions.Get(agentName).Clone();
        configure?.Invoke(options);
        var credential = AgentCredential.CreateStarted(id, _issuer, options, _time, _logger, _metrics);
        credential.OnDisposed = c =>
        {
            _credentials.TryRemove(c, out _);
            CredentialDisposed?.Invoke(c);
        };
        _credentials[credential] = 0;
        CredentialCreated?.Invoke(credential);
        return credential;
    }

    /// <summary>The process-wide credential of a named agent (default or keyed registration), created once.</summary>
    public AgentCredential GetOrCreateNamed(string agentName) =>
        _named.GetOrAdd(agentName, name => new Lazy<AgentCredential>(() => Create(name))).Value;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var credential in _credentials.Keys)
        {
            await credential.DisposeAsync().ConfigureAwait(false);
        }

        _credentials.Clear();
    }
}
