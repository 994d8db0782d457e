using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options of the agent-side revocation subscription registered with <c>UseRevocationFeed(...)</c>.</summary>
public sealed class AgentRevocationSubscriptionOptions
{
    /// <summary>The feed path, on the issuer's origin, that <c>UseRevocationFeed()</c> without a URI subscribes to: where
    /// <c>app.MapAgentIdentityRevocation()</c> (Issuer package) maps the feed by default, next to <c>app.MapAgentIdentityIssuer()</c>.</summary>
    public const string DefaultIssuerFeedPath = "/revocation/feed";

    /// <summary>Gets or sets the https:// URI of the issuer's revocation feed.</summary>
    /// <value>The default is <see langword="null"/>: <see cref="DefaultIssuerFeedPath"/> on the scheme, host and port of the issuer
    /// configured with <c>UseIssuer(address, ...)</c>.</value>
    public Uri? FeedUri { get; set; }

    /// <summary>Gets or sets the certificate that signs the feed (the issuer's <c>RevocationSigner.Certificate</c>), trusted as configured.</summary>
    /// <value>The default is <see langword="null"/>: the CA certificate that issued the agent's own SVID (the first intermediate of its
    /// chain whose subject is the leaf's issuer), accepted only if it chains to the agent's trust bundle
    /// (<see cref="RevocationFeedVerifier.FromTrustBundle"/>).</value>
    public X509Certificate2? SignerCertificate { get; set; }

    /// <summary>Gets or sets the SPIFFE ID (or a pattern ending in <c>/*</c>) the feed server's SVID must have.</summary>
    /// <value>The default is <see langword="null"/>: the issuer's <see cref="IssuerClientOptions.ServerId"/> when <c>UseIssuer</c>
    /// set one, otherwise any member of the agent's trust domain.</value>
    public string? ServerId { get; set; }

    /// <summary>Gets or sets a callback that adjusts the feed client's options (trust bundle source, Web PKI validation for a feed
    /// behind a public TLS terminator, handler settings). The client is made with <see cref="AgentHttpClient.CreateHandler"/>.</summary>
    public Action<AgentHttpClientOptions>? ConfigureHttpClient { get; set; }

    /// <summary>Gets or sets how long the feed may stay disconnected before the <c>agent-identity</c> health check (<c>AddHealthChecks().AddAgentIdentity()</c>) reports Degraded:
    /// while it is, a revocation cannot reach the kill switch. Before the first connection it counts from the subscription's start.</summary>
    /// <value>The default value is 30 seconds (the services' default grace period before they fail closed).</value>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the subscriber's reconnect and idle settings.</summary>
    public RevocationFeedSubscriberOptions Subscriber { get; } = new();
}

/// <summary>The configurable part of <see cref="AgentRevocationSubscriptionOptions"/>, bound by the source generator: the options type
/// itself also holds a certificate and a callback, which the generator cannot skip.</summary>
internal sealed class AgentRevocationSubscriptionConfiguration
{
    private const string SubscriberKey = nameof(AgentRevocationSubscriptionOptions.Subscriber);

    public Uri? FeedUri { get; set; }

    public string? ServerId { get; set; }

    public TimeSpan? GracePeriod { get; set; }

    /// <summary>Binds <paramref name="configuration"/> onto <paramref name="options"/>; only the keys present change them.</summary>
    public static void Bind(IConfiguration configuration, AgentRevocationSubscriptionOptions options)
    {
        var shape = new AgentRevocationSubscriptionConfiguration();
        var view = ConfigurationBinding.Without(configuration, SubscriberKey);
        ConfigurationBinding.Run(view, () => view.Bind(shape, ConfigurationBinding.Strict));
        options.FeedUri = shape.FeedUri ?? options.FeedUri;
        options.ServerId = shape.ServerId ?? options.ServerId;
        options.GracePeriod = shape.GracePeriod ?? options.GracePeriod;
        var subscriber = configuration.GetSection(SubscriberKey);
        ConfigurationBinding.Run(subscriber, () => subscriber.Bind(options.Subscriber, ConfigurationBinding.Strict));
    }
}

/// <summary>The rules of <see cref="AgentRevocationSubscriptionOptions"/> checked at start-up when they are bound from configuration:
/// an https feed URI, a valid server pattern, a positive grace period and the subscriber's delays.</summary>
internal sealed class AgentRevocationSubscriptionOptionsRules : IValidateOptions<AgentRevocationSubscriptionOptions>
{
    public static AgentRevocationSubscriptionOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentRevocationSubscriptionOptions options)
    {
        var prefix = OptionsValidation.DisplayName(name, nameof(AgentRevocationSubscriptionOptions));
        var builder = new ValidateOptionsResultBuilder();
        if (options.FeedUri is { } uri && (!uri.IsAbsoluteUri || uri.Scheme != Uri.UriSchemeHttps))
        {
            builder.AddError($"{prefix}.FeedUri '{uri}' must be an absolute https:// URI: the feed client authenticates the issuer's server certificate.");
        }

        if (BoundTokenOptionsRules.ServerIdError(options.ServerId, authorizer: null) is { } serverIdError)
        {
            builder.AddError($"{prefix}.ServerId: {serverIdError}");
        }

        if (options.GracePeriod <= TimeSpan.Zero)
        {
            builder.AddError($"{prefix}.GracePeriod ({options.GracePeriod}) must be positive.");
        }

        builder.AddResult(new RevocationFeedSubscriberOptionsValidator().Validate($"{prefix}.Subscriber", options.Subscriber));
        builder.AddResult(RevocationFeedSubscriberOptionsRules.Instance.Validate($"{prefix}.Subscriber", options.Subscriber));
        return builder.Build();
    }
}

/// <summary>
/// The agent side of revocation wired by <c>UseRevocationFeed(...)</c>: a hosted service that subscribes to the issuer's signed feed
/// once the host's agent credentials exist, and trips the kill switch of every credential the feed revokes: the declared agents
/// (<c>AddAgent(name)</c>), the default agent, every credential made by <see cref="IAgentCredentialFactory"/> (also later ones) and
/// the task identities delegated from them.
/// </summary>
/// <remarks>
/// <para>One <see cref="RevocationSet"/>, one <see cref="RevocationFeedSubscriber"/> and one <see cref="AgentRevocationMonitor"/> serve
/// all credentials. The feed client is an agent <see cref="HttpClient"/> (<see cref="AgentHttpClient.CreateHandler"/>): it presents a
/// live credential of the host and authenticates the issuer's server SVID against the trust bundle. Entries are verified against the
/// feed signer (<see cref="AgentRevocationSubscriptionOptions.SignerCertificate"/>); forged ones are rejected and never trip anything.</para>
/// <para>When the feed is unreachable the agents keep working (services that subscribe fail closed after their grace period) and the
/// health check reports Degraded after <see cref="AgentRevocationSubscriptionOptions.GracePeriod"/>. The signer is fixed when the
/// subscription starts: after a CA rotation, restart the host or configure the new signer. Thread-safe.</para>
/// </remarks>
public sealed class AgentRevocationSubscription : IHostedService, IAsyncDisposable
{
    private readonly AgentRevocationSubscriptionOptions _options;
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly AgentRevocationMonitor _monitor;
    private readonly ConcurrentDictionary<AgentCredential, byte> _credentials = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private AgentCredentialFactory? _factory;
    private AgentCredential? _anchor;
    private RevocationFeedSubscriber? _subscriber;
    private RevocationFeedVerifier? _verifier;
    private HttpClient? _http;
    private DateTimeOffset? _startedAt;
    private string? _startError;
    private bool _stopped;
    private int _disposed;

    internal AgentRevocationSubscription(IOptions<AgentRevocationSubscriptionOptions> options, IServiceProvider services, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _options = options.Value;
        _services = services;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<AgentRevocationSubscription>();
        _monitor = new AgentRevocationMonitor(Set);
    }

    /// <summary>Gets the revocations the feed has delivered (also the registered <see cref="IRevocationStatus"/> of tool-call guards).</summary>
    public RevocationSet Set { get; } = new();

    /// <summary>Gets the subscriber once the subscription has started (connection state, last contact, rejected entries), else <see langword="null"/>.</summary>
    public RevocationFeedSubscriber? Subscriber => Volatile.Read(ref _subscriber);

    /// <summary>Gets the credentials whose kill switch the feed controls (task identities are reached through their parents).</summary>
    public IReadOnlyCollection<AgentCredential> Credentials => [.. _credentials.Keys];

    /// <summary>Gets why the subscription could not start (no signer, no feed URI), or <see langword="null"/>.</summary>
    public string? StartError => Volatile.Read(ref _startError);

    /// <summary>Gets a value indicating whether the feed has been disconnected (or never connected) for longer than
    /// <see cref="AgentRevocationSubscriptionOptions.GracePeriod"/> (counted from the start before the first connection), or the
    /// subscription failed to start.</summary>
    public bool IsStale
    {
        get
        {
            if (StartError is not null)
            {
                return true;
            }

            // Not started without an error: no credential is ready yet, so there is nothing for the kill switch to stop.
            var subscriber = Subscriber;
            if (subscriber is null or { IsConnected: true } || _startedAt is not { } started)
            {
                return false;
            }

            return _time.GetUtcNow() - (subscriber.LastContact ?? started) > _options.GracePeriod;
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No feed URI is configured or derivable, or the feed signer cannot be determined or
    /// does not chain to the trust bundle; the message says what to configure.</exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.GracePeriod <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"AgentRevocationSubscriptionOptions.GracePeriod ({_options.GracePeriod}) must be positive.");
        }

        _startedAt = _time.GetUtcNow();
        var factory = _services.GetRequiredService<AgentCredentialFactory>();
        _factory = factory;
        factory.CredentialCreated += OnCredentialCreated;
        factory.CredentialDisposed += OnCredentialDisposed;

        // The declared agents and the default agent (created here if the host's start-up service has not yet done it).
        var declared = new List<AgentCredential>();
        if (_services.GetRequiredService<IOptions<AgentIdentityOptions>>().Value.AgentName is not null)
        {
            declared.Add(_services.GetRequiredService<AgentCredential>());
        }

        foreach (var name in _services.GetServices<AgentRegistration>().Select(r => r.AgentName).Distinct(StringComparer.Ordinal))
        {
            declared.Add(_services.GetRequiredKeyedService<AgentCredential>(name));
        }

        foreach (var credential in factory.Credentials)
        {
            Watch(credential);
        }

        await Task.WhenAll(declared.Select(c => c.WhenReadyAsync(cancellationToken))).ConfigureAwait(false);
        if (FindLive() is { } anchor)
        {
            StartSubscriber(anchor, throwOnError: true);
        }

        // Otherwise the first credential made by the factory starts the subscription when its first SVID arrives.
        foreach (var credential in factory.Credentials)
        {
            StartWhenReady(credential);
        }
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        RevocationFeedSubscriber? subscriber;
        lock (_gate)
        {
            _stopped = true;
            subscriber = _subscriber;
        }

        if (_factory is { } factory)
        {
            factory.CredentialCreated -= OnCredentialCreated;
            factory.CredentialDisposed -= OnCredentialDisposed;
        }

        try
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // Stopped after disposal: nothing is left to stop.
        }

        if (subscriber is not null)
        {
            await subscriber.DisposeAsync().ConfigureAwait(false);
        }

        _http?.Dispose();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as a hosted service: the container disposes it once per registration.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _monitor.Dispose();
        _verifier?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The feed's part of the health report: its state, and whether it has been disconnected too long.</summary>
    internal bool AddHealth(Dictionary<string, object> data, [NotNullWhen(true)] out string? degradedReason)
    {
        var subscriber = Subscriber;
        data["revocationFeed"] = StartError is not null ? "failed" : subscriber is null ? "not started" : subscriber.IsConnected ? "connected" : "disconnected";
        if (subscriber is not null)
        {
            data["revocationFeedUri"] = subscriber.FeedUri.ToString();
            data["revocationFeedSequence"] = Set.LastSequence;
            data["revocationFeedRejectedEntries"] = subscriber.RejectedEntries;
            if (subscriber.LastContact is { } contact)
            {
                data["revocationFeedLastContact"] = contact.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        if (!IsStale)
        {
            degradedReason = null;
            return false;
        }

        degradedReason = StartError is { } error
            ? $"The revocation feed subscription failed to start ({error}); revocations cannot reach the kill switch."
            : subscriber?.LastContact is { } last
                ? $"The revocation feed {subscriber.FeedUri} has been unreachable since {last:O} (longer than {_options.GracePeriod}); revocations cannot reach the kill switch until it reconnects."
                : $"The revocation feed {subscriber!.FeedUri} has not been reached for {_options.GracePeriod} since the subscription started; revocations cannot reach the kill switch until it connects.";
        return true;
    }

    private void OnCredentialCreated(AgentCredential credential)
    {
        Watch(credential);
        StartWhenReady(credential);
    }

    private void OnCredentialDisposed(AgentCredential credential)
    {
        _credentials.TryRemove(credential, out _);
        _monitor.Unwatch(credential);
    }

    private void Watch(AgentCredential credential)
    {
        if (_credentials.TryAdd(credential, 0))
        {
            _monitor.Watch(credential);
        }
    }

    private void StartWhenReady(AgentCredential credential)
    {
        if (Volatile.Read(ref _subscriber) is not null)
        {
            return;
        }

        _ = credential.WhenReadyAsync(_stopping.Token).ContinueWith(
            static (ready, state) =>
            {
                var (self, credential) = ((AgentRevocationSubscription, AgentCredential))state!;
                if (ready.IsCompletedSuccessfully && !credential.IsRevoked)
                {
                    self.StartSubscriber(credential, throwOnError: false);
                }
            },
            (this, credential),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void StartSubscriber(AgentCredential anchor, bool throwOnError)
    {
        lock (_gate)
        {
            if (_subscriber is not null || _stopped)
            {
                return;
            }

            Uri feedUri;
            RevocationFeedVerifier verifier;
            try
            {
                feedUri = ResolveFeedUri();
                verifier = CreateVerifier(anchor);
            }
            catch (Exception ex) when (ex is InvalidOperationException or RevocationFeedException)
            {
                _startError = ex.Message;
                _logger.RevocationSubscriptionFailed(ex.Message);
                if (throwOnError)
                {
                    throw new InvalidOperationException(ex.Message, ex);
                }

                return;
            }

            _anchor = anchor;
            var serverId = _options.ServerId ?? (_services.GetService<IX509SvidIssuer>() as IssuerClient)?.ServerId?.ToString();
            var bundles = _services.GetService<ITrustBundleSource>() ?? new LiveBundleSource(this);
            var handler = AgentHttpClient.CreateHandler(
                new LiveCredentialSource(this),
                o =>
                {
                    o.ServerId = serverId;
                    o.TrustBundleSource = bundles;
                    o.SendAttributionHeaders = false;
                    o.EnforceServicePolicy = false; // the issuer's feed is the control plane, not a service the agent's policy names
                    _options.ConfigureHttpClient?.Invoke(o);
                },
                _time,
                _loggerFactory);
            _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
            _verifier = verifier;
            var subscriber = new RevocationFeedSubscriber(_http, feedUri, verifier, Set, _options.Subscriber, _time, _loggerFactory.CreateLogger<RevocationFeedSubscriber>());
            _startError = null;
            Volatile.Write(ref _subscriber, subscriber);
            subscriber.Start();
            _logger.RevocationSubscriptionStarted(feedUri, verifier.SignerCertificate.Subject, _credentials.Count);
        }
    }

    private Uri ResolveFeedUri()
    {
        if (_options.FeedUri is { } configured)
        {
            return configured.IsAbsoluteUri && configured.Scheme == Uri.UriSchemeHttps
                ? configured
                : throw new InvalidOperationException($"The revocation feed URI '{configured}' must be an absolute https:// URI: the feed client authenticates the issuer's server certificate.");
        }

        if (_services.GetService<IX509SvidIssuer>() is IssuerClient issuer)
        {
            return DeriveFeedUri(issuer.Address);
        }

        throw new InvalidOperationException(
            "UseRevocationFeed() without a URI subscribes to the issuer configured with UseIssuer(address, ...), and there is none. " +
            "Pass the feed URI: UseRevocationFeed(new Uri(\"https://issuer.example/revocation/feed\")).");
    }

    /// <summary>The issuer's default feed: <see cref="AgentRevocationSubscriptionOptions.DefaultIssuerFeedPath"/> on its origin.</summary>
    internal static Uri DeriveFeedUri(Uri issuerAddress) => new(issuerAddress, AgentRevocationSubscriptionOptions.DefaultIssuerFeedPath);

    private RevocationFeedVerifier CreateVerifier(AgentCredential anchor)
    {
        var trustDomain = anchor.Id.TrustDomain;
        if (_options.SignerCertificate is { } configured)
        {
            return new RevocationFeedVerifier(configured, trustDomain);
        }

        var svid = anchor.GetCurrent();
        var issuerName = svid.Certificate.IssuerName.RawData;
        var signer = svid.Intermediates.FirstOrDefault(i => i.SubjectName.RawData.AsSpan().SequenceEqual(issuerName))
            ?? throw new InvalidOperationException(
                $"The SVID of '{svid.Id}' carries no intermediate CA certificate that issued it, so the revocation feed signer cannot be derived from it. " +
                "Set AgentRevocationSubscriptionOptions.SignerCertificate to the issuer's feed-signer certificate.");
        if (!anchor.Bundle.TryGetBundle(trustDomain, out var bundle))
        {
            throw new InvalidOperationException($"The credential of '{svid.Id}' has no trust bundle for '{trustDomain}' to validate the revocation feed signer with.");
        }

        return RevocationFeedVerifier.FromTrustBundle(signer, bundle, _time.GetUtcNow());
    }

    /// <summary>A live credential of the host, to present to the feed server: the first one, or another once it is revoked or expired.</summary>
    private AgentCredential? FindLive()
    {
        if (Volatile.Read(ref _anchor) is { } anchor && anchor.TryGetCurrent(out _))
        {
            return anchor;
        }

        foreach (var credential in _credentials.Keys)
        {
            if (credential.TryGetCurrent(out _))
            {
                Volatile.Write(ref _anchor, credential);
                return credential;
            }
        }

        return null;
    }

    /// <summary>Presents the SVID of a live credential of the host (the feed server does not require one; the issuer may log it).</summary>
    private sealed class LiveCredentialSource(AgentRevocationSubscription owner) : IX509SvidSource
    {
        public X509Svid GetCurrent() =>
            owner.FindLive()?.GetCurrent()
            ?? throw new IdentityUnavailableException("No agent credential of this host has a valid, unrevoked SVID to connect to the revocation feed with.");
    }

    /// <summary>The trust bundle of a credential of the host, when no <see cref="ITrustBundleSource"/> is registered.</summary>
    private sealed class LiveBundleSource(AgentRevocationSubscription owner) : ITrustBundleSource
    {
        public bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle)
        {
            foreach (var credential in owner.FindLive() is { } live ? [live, .. owner._credentials.Keys] : owner._credentials.Keys.ToArray())
            {
                if (credential.PeekCurrent() is not null && credential.Bundle.TryGetBundle(trustDomain, out bundle))
                {
                    return true;
                }
            }

            bundle = null;
            return false;
        }
    }
}
