using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>One certificate generation: a <see cref="SocketsHttpHandler"/> that presents exactly one X.509-SVID, with a count of the
/// requests and response bodies in flight on it, so that it is disposed only once drained.</summary>
internal sealed class ClientCertificateGeneration : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private int _inFlight;
    private int _retired;
    private int _disposed;
    private ITimer? _drainTimer;

    public ClientCertificateGeneration(X509Svid svid, SocketsHttpHandler handler, long number)
    {
        Svid = svid;
        Handler = handler;
        Number = number;
        _invoker = new HttpMessageInvoker(handler, disposeHandler: false);
    }

    public X509Svid Svid { get; }

    public SocketsHttpHandler Handler { get; }

    public long Number { get; }

    public IDisposable? ChangeRegistration { get; set; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public int InFlight => Volatile.Read(ref _inFlight);

    public static SocketsHttpHandler CreateHandler(X509Svid svid, AgentHttpClientOptions options, TimeSpan remaining, RemoteCertificateValidationCallback validate)
    {
        var intermediates = new X509Certificate2Collection();
        foreach (var intermediate in svid.Intermediates)
        {
            intermediates.Add(intermediate);
        }

        var lifetime = remaining < options.PooledConnectionLifetime ? remaining : options.PooledConnectionLifetime;
        if (lifetime < TimeSpan.FromSeconds(1))
        {
            lifetime = TimeSpan.FromSeconds(1);
        }

        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = lifetime,
            UseCookies = false,
        };
        options.ConfigureHandler?.Invoke(handler);
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificateContext = SslStreamCertificateContext.Create(svid.Certificate, intermediates, offline: true),
            RemoteCertificateValidationCallback = validate,
            AllowTlsResume = options.AllowTlsResume,
        };
        return handler;
    }

    public bool TryAcquire()
    {
        Interlocked.Increment(ref _inFlight);
        if (Volatile.Read(ref _retired) != 0)
        {
            Release();
            return false;
        }

        return true;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && Volatile.Read(ref _retired) != 0)
        {
            DisposeNow();
        }
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _invoker.SendAsync(request, cancellationToken);

    /// <summary>Stops new requests; disposes when the last request or response body in flight ends, or after <paramref name="drainTimeout"/>.</summary>
    public void Retire(TimeSpan drainTimeout, TimeProvider time)
    {
        if (Interlocked.Exchange(ref _retired, 1) != 0)
        {
            return;
        }

        ChangeRegistration?.Dispose();
        if (Volatile.Read(ref _inFlight) == 0)
        {
            DisposeNow();
            return;
        }

        _drainTimer = time.CreateTimer(static state => ((ClientCertificateGeneration)state!).DisposeNow(), this, drainTimeout, Timeout.InfiniteTimeSpan);
        if (IsDisposed)
        {
            _drainTimer.Dispose();
        }
    }

    public void Dispose() => DisposeNow();

    public void DisposeNow()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _retired, 1);
        ChangeRegistration?.Dispose();
        _drainTimer?.Dispose();
        _invoker.Dispose();
        Handler.Dispose();
    }
}
