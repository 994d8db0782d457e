using System.Buffers.Text;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Http;

/// <summary>An agent whose self-signed X.509-SVIDs rotate on demand (valid for an hour of the fake clock).</summary>
internal sealed class RotatingTestSource : IX509SvidSource, IDisposable
{
    private readonly TimeProvider _time;
    private readonly List<X509SvidOwner> _all = [];
    private X509SvidOwner _current;

    public RotatingTestSource(TimeProvider time)
    {
        _time = time;
        _current = Create();
    }

    public X509Svid GetCurrent() => Volatile.Read(ref _current).Svid;

    public X509Svid Rotate()
    {
        var next = Create();
        Interlocked.Exchange(ref _current, next).MarkSuperseded();
        return next.Svid;
    }

    private X509SvidOwner Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://example.org/agent/planner/1"));
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        var now = _time.GetUtcNow();
        var svid = new X509SvidOwner(request.CreateSelfSigned(now.AddMinutes(-1), now.AddHours(1)));
        lock (_all)
        {
            _all.Add(svid);
        }

        return svid;
    }

    public void Dispose()
    {
        lock (_all)
        {
            _all.ForEach(s => s.Dispose());
        }
    }
}

/// <summary>The authorization server, in memory: it answers the token request with a JWT bound (<c>cnf.x5t#S256</c>) to the certificate
/// the request is sent with (<see cref="AgentRequestState.BoundTo"/>, what the generation handler would present over mTLS).</summary>
internal sealed class InMemoryTokenServer : HttpMessageHandler
{
    private int _issued;

    public List<X509Svid> Requests { get; } = [];

    /// <summary>Gets or sets what the server answers; by default a bound token, valid for 10 minutes.</summary>
    public Func<X509Svid, HttpResponseMessage>? Respond { get; set; }

    /// <summary>Gets or sets a signal the server waits for before it answers (to hold requests in flight).</summary>
    public Task? Hold { get; set; }

    /// <summary>Gets or sets what runs before the request is answered; it may throw what the generation handler below would
    /// (<see cref="SvidChangedException"/> when the certificate rotated before the request was sent).</summary>
    public Action<X509Svid>? BeforeSend { get; set; }

    /// <summary>Gets or sets what runs once a token is issued, before the answer arrives (a rotation during the request).</summary>
    public Action? AfterIssue { get; set; }

    public static string Token(X509Svid svid, int serial)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["jti"] = serial,
            ["cnf"] = new Dictionary<string, string> { ["x5t#S256"] = Base64Url.EncodeToString(svid.GetCertificateHash()) },
        });
        return $"eyJhbGciOiJub25lIn0.{Base64Url.EncodeToString(payload)}.sig";
    }

    public static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var svid = AgentRequestState.Find(request)?.BoundTo ?? throw new InvalidOperationException("The token request names no certificate.");
        BeforeSend?.Invoke(svid);
        lock (Requests)
        {
            Requests.Add(svid);
        }

        if (Hold is { } hold)
        {
            await hold.WaitAsync(cancellationToken);
        }

        var response = Respond?.Invoke(svid)
            ?? Json(HttpStatusCode.OK, $$"""{"access_token":"{{Token(svid, Interlocked.Increment(ref _issued))}}","token_type":"Bearer","expires_in":600}""");
        AfterIssue?.Invoke();
        return response;
    }
}

/// <summary>Builds the token pieces of one client over the in-memory server and a fake clock.</summary>
internal sealed class TokenTestBed : IDisposable
{
    public TokenTestBed()
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Source = new RotatingTestSource(Time);
        Server = new InMemoryTokenServer();
        var options = new AgentHttpClientOptions
        {
            UseWebPkiServerValidation = true,
            Token = { TokenEndpoint = new Uri("https://as.test/token"), ClientId = "planner", UseWebPkiServerValidation = true },
        };
        var generations = new GenerationHandler("erp", Source, null, options, null, Time, NullLogger.Instance);
        Cache = new BoundTokenCache(new BoundTokenClient("erp", options.Token, Server, Time), Time, NullLogger.Instance);
        State = new AgentHttpClientHandlers.ClientState("erp", generations, Cache, options, NullLogger.Instance);
    }

    public FakeTimeProvider Time { get; }

    public RotatingTestSource Source { get; }

    public InMemoryTokenServer Server { get; }

    public BoundTokenCache Cache { get; }

    public AgentHttpClientHandlers.ClientState State { get; }

    public void Dispose()
    {
        State.Dispose();
        Source.Dispose();
    }
}
