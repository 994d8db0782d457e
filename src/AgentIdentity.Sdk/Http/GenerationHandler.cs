using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace AgentIdentity;

/// <summary>
/// The generation handler, the bottom of an agent's <see cref="HttpClient"/>: it owns mTLS. Each request goes to the
/// <see cref="SocketsHttpHandler"/> of the current certificate generation, which presents exactly one X.509-SVID (never an expired one).
/// A new SVID creates a new generation and swaps it in atomically; the old one keeps serving what already started on it (requests and
/// response bodies) and is disposed once drained. It authenticates the server, refuses to send an unsafe-method request twice, and
/// sends a request whose token is bound to a certificate (<see cref="AgentRequestState.BoundTo"/>) only with that certificate.
/// When it enforces the services axis, a server whose SPIFFE ID the presented SVID's effective policy does not allow is refused
/// during the TLS handshake, before any byte of the request is sent.
/// Owned by <see cref="AgentHttpClientHandlers"/>, never by IHttpClientFactory.
/// </summary>
internal sealed class GenerationHandler : HttpMessageHandler
{
    private readonly IX509SvidSource _source;
    private readonly ITrustBundleSource? _bundles;
    private readonly AgentHttpClientOptions _options;
    private readonly PeerAuthorizer? _authorizer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly bool _enforceServicePolicy;
    private readonly Lock _lock = new();
    private ClientCertificateGeneration? _current;
    private long _generations;
    private bool _disposed;

    public GenerationHandler(
        string name,
        IX509SvidSource source,
        ITrustBundleSource? bundles,
        AgentHttpClientOptions options,
        PeerAuthorizer? authorizer,
        TimeProvider time,
        ILogger logger,
        bool enforceServicePolicy = false)
    {
        _name = name;
        _source = source;
        _bundles = bundles;
        _options = options;
        _authorizer = authorizer;
        _time = time;
        _logger = logger;
        _enforceServicePolicy = enforceServicePolicy && !options.UseWebPkiServerValidation;
        if (!options.UseWebPkiServerValidation && (bundles is null || authorizer is null))
        {
            throw new ArgumentException("A trust bundle source and a server authorizer are required unless Web PKI validation is chosen.", nameof(options));
        }
    }

    /// <summary>Gets the number of generations created so far.</summary>
    public long GenerationCount => Interlocked.Read(ref _generations);

    /// <summary>Returns the current SVID, never an expired one.</summary>
    public X509Svid GetCurrentSvid()
    {
        var svid = _source.GetCurrent();
        if (svid.IsExpired(_time.GetUtcNow()))
        {
            throw new IdentityUnavailableException(
                $"HttpClient '{_name}' refuses to present the X.509-SVID of '{svid.Id}': it expired at {svid.NotAfter:O} and has not been renewed. No request was sent.");
        }

        return svid;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var svid = GetCurrentSvid();
        AgentIdentityTelemetry.TagPresentedSvid(svid);
        var state = AgentRequestState.Find(request);
        if (state?.BoundTo is { } bound && !ReferenceEquals(bound, svid))
        {
            throw new SvidChangedException();
        }

        var unsafeState = !_options.AllowUnsafeMethodRetries && IsUnsafe(request.Method) ? state ?? AgentRequestState.Of(request) : null;
        if (unsafeState is not null)
        {
            if (unsafeState.FirstUnsafeAttempt is { } firstAttempt)
            {
                throw new UnsafeRetryRefusedException(request.Method, request.RequestUri, firstAttempt);
            }

            unsafeState.FirstUnsafeAttempt = "no answer";
        }

        var generation = Acquire(svid);
        HttpResponseMessage response;
        try
        {
            response = await generation.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (FindRejection(ex) is { } rejection)
        {
            generation.Release();
            _logger.ServerRejected(_name, request.RequestUri, rejection.Reason);
            throw new PeerRejectedException(rejection.Peer, $"{rejection.Reason} (HttpClient '{_name}', {request.RequestUri?.GetLeftPart(UriPartial.Authority)})", ex);
        }
        catch (Exception ex)
        {
            generation.Release();
            if (unsafeState is not null)
            {
                unsafeState.FirstUnsafeAttempt = $"{ex.GetType().Name}: {ex.Message}";
            }

            throw;
        }

        if (unsafeState is not null)
        {
            unsafeState.FirstUnsafeAttempt = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        }

        response.Content = new GenerationTrackedContent(response.Content, generation);
        return response;
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The agent HttpClient supports only asynchronous sends; use SendAsync.");

    /// <summary>The methods <c>DisableForUnsafeHttpMethods()</c> names: not safe, and in practice not reliably idempotent.</summary>
    private static bool IsUnsafe(HttpMethod method) =>
        method == HttpMethod.Post || method == HttpMethod.Put || method == HttpMethod.Patch || method == HttpMethod.Delete || method == HttpMethod.Connect;

    private static PeerRejectedException? FindRejection(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is PeerRejectedException rejected)
            {
                return rejected;
            }
        }

        return null;
    }

    private ClientCertificateGeneration Acquire(X509Svid svid)
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current is not null && ReferenceEquals(current.Svid, svid) && current.TryAcquire())
            {
                return current;
            }

            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                current = _current;
                if (current is null || !ReferenceEquals(current.Svid, svid) || current.IsDisposed)
                {
                    Swap(svid);
                }
            }
        }
    }

    private void Swap(X509Svid svid)
    {
        var now = _time.GetUtcNow();
        var number = Interlocked.Increment(ref _generations);
        var services = _enforceServicePolicy ? ServicePolicy.Of(svid) : null;
        var handler = ClientCertificateGeneration.CreateHandler(
            svid, _options, svid.NotAfter - now, (_, certificate, chain, errors) => ValidateServerCertificate(services, certificate, chain, errors));
        var next = new ClientCertificateGeneration(svid, handler, number);
        var previous = _current;
        Volatile.Write(ref _current, next);
        // The callback only queues the swap: it must never block, because retiring a generation disposes its registration,
        // and disposing a registration waits for a callback that is running — while holding _lock, that was a deadlock.
        next.ChangeRegistration = svid.ChangeToken.RegisterChangeCallback(
            static state => ThreadPool.UnsafeQueueUserWorkItem(static handler => handler.OnSvidChanged(), (GenerationHandler)state!, preferLocal: false),
            this);
        _logger.GenerationStarted(_name, number, svid.Id, svid.SerialNumber, svid.NotAfter);
        if (previous is not null)
        {
            _logger.GenerationRetired(_name, previous.Number, previous.InFlight);
            previous.Retire(_options.DrainTimeout, _time);
        }
    }

    private void OnSvidChanged()
    {
        X509Svid svid;
        try
        {
            svid = GetCurrentSvid();
        }
        catch (Exception ex) when (ex is IdentityUnavailableException or ObjectDisposedException)
        {
            return; // The next request reports it.
        }

        lock (_lock)
        {
            if (!_disposed && (_current is null || !ReferenceEquals(_current.Svid, svid)))
            {
                Swap(svid);
            }
        }
    }

    private bool ValidateServerCertificate(ServicePolicy? services, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_options.UseWebPkiServerValidation)
        {
            return errors == SslPolicyErrors.None
                ? true
                : throw new PeerRejectedException(default, $"the server certificate failed Web PKI validation ({errors})");
        }

        if (certificate is null)
        {
            throw new PeerRejectedException(default, "the server presented no certificate");
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var result = X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, _bundles!, _time.GetUtcNow());
        if (!result.IsValid)
        {
            throw new PeerRejectedException(result.Id, $"its certificate is not trusted: {result.Reason}");
        }

        var decision = _authorizer!(result.Id, result.VerifiedChain);
        if (!decision.IsAllowed)
        {
            throw new PeerRejectedException(result.Id, $"the server authorizer denied it: {decision.Reason}");
        }

        return services?.Check(result.Id) is not { } denial
            ? true
            : throw new PeerRejectedException(result.Id, denial);
    }

    /// <summary>The services axis of one generation's SVID: its effective policy (computed once per generation), or why it cannot be computed.</summary>
    private sealed class ServicePolicy
    {
        private readonly X509Svid _svid;
        private readonly AgentPolicy? _effective;
        private readonly string? _error;

        private ServicePolicy(X509Svid svid, AgentPolicy? effective, string? error)
        {
            _svid = svid;
            _effective = effective;
            _error = error;
        }

        /// <summary>Returns the services axis of <paramref name="svid"/>, or <see langword="null"/> when it carries no policy (no restriction).</summary>
        public static ServicePolicy? Of(X509Svid svid)
        {
            if (svid.Policy is null && svid.DelegationChain is null)
            {
                return null;
            }

            try
            {
                return svid.EffectivePolicy is { } effective
                    ? new ServicePolicy(svid, effective, null)
                    : new ServicePolicy(svid, null, $"the X.509-SVID of '{svid.Id}' carries a delegation chain but no policy, so it may call no service");
            }
            catch (InvalidOperationException ex)
            {
                return new ServicePolicy(svid, null, $"the effective policy of '{svid.Id}' cannot be computed ({ex.Message}), so it may call no service");
            }
        }

        /// <summary>Returns why <paramref name="server"/> may not be called, or <see langword="null"/> when it may.</summary>
        public string? Check(SpiffeId server)
        {
            if (_error is not null)
            {
                return _error;
            }

            if (_effective!.AllowsService(server))
            {
                return null;
            }

            var scope = _svid.DelegationChain is null ? "policy" : "effective (delegated) policy";
            return $"the {scope} of '{_svid.Id}' does not allow calling it (services [{string.Join(", ", _effective.Services)}]); no request was sent";
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ClientCertificateGeneration? current;
            lock (_lock)
            {
                _disposed = true;
                current = _current;
                _current = null;
            }

            current?.DisposeNow();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Handed to IHttpClientFactory as the primary handler: forwards to the long-lived rotating handler and never disposes it,
/// so that factory recycling (HandlerLifetime) cannot dispose a live generation.</summary>
internal sealed class NonDisposingHandler(HttpMessageHandler inner) : HttpMessageHandler
{
    private readonly HttpMessageInvoker _invoker = new(inner, disposeHandler: false);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _invoker.SendAsync(request, cancellationToken);

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _invoker.Send(request, cancellationToken);
}
