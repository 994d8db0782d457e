using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;

namespace AgentIdentity.Tests.Http;

/// <summary>The token handler in memory: the authorization server and the resource are in-memory handlers standing in for the network.</summary>
public sealed class BoundTokenHandlerTests : IDisposable
{
    private readonly TokenTestBed _bed = new();
    private readonly ResourceStandIn _resource;
    private readonly HttpClient _client;

    public BoundTokenHandlerTests()
    {
        _resource = new ResourceStandIn(_bed.Source);
        _client = new HttpClient(new BoundTokenHandler(_bed.State) { InnerHandler = _resource }) { BaseAddress = new Uri("https://erp.test/") };
    }

    [Fact]
    public async Task SendAsync_TokenIsBoundToTheCertificateTheRequestIsSentWith_AndCached()
    {
        await _client.GetAsync("a");
        await _client.GetAsync("b");

        var svid = _bed.Source.GetCurrent();
        Assert.Equal(2, _resource.Sent.Count);
        Assert.All(_resource.Sent, s => Assert.Same(svid, s.Certificate));
        Assert.All(_resource.Sent, s => Assert.Equal(InMemoryTokenServer.Token(svid, 1), s.Token));
        Assert.Equal([svid], _bed.Server.Requests);
    }

    [Fact]
    public async Task SendAsync_CertificateRotatesWhileItsTokenIsFetched_StartsOverWithTheNewCertificateAndSendsOnce()
    {
        var first = _bed.Source.GetCurrent();
        X509Svid? second = null;
        _bed.Server.AfterIssue = () =>
        {
            _bed.Server.AfterIssue = null;
            second = _bed.Source.Rotate();
        };

        using var response = await _client.PostAsync("orders", new ByteArrayContent([1, 2, 3]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(second);
        Assert.Equal([first, second], _bed.Server.Requests);
        var sent = Assert.Single(_resource.Sent); // the old certificate's token was never sent, and the POST went out once
        Assert.Same(second, sent.Certificate);
        Assert.Equal(InMemoryTokenServer.Token(second, 2), sent.Token);
    }

    [Fact]
    public async Task SendAsync_CertificateKeepsRotating_GivesUpAfterThreeRestarts()
    {
        _bed.Server.AfterIssue = () => _bed.Source.Rotate();

        await Assert.ThrowsAsync<SvidChangedException>(() => _client.GetAsync("a"));

        Assert.Equal(4, _bed.Server.Requests.Count);
        Assert.Empty(_resource.Sent);
    }

    [Fact]
    public async Task SendAsync_ResourceRefusesTheToken_NewTokenAndOneRetryEvenForPost()
    {
        _resource.RefuseTokens = 1;

        using var response = await _client.PostAsync("orders", new ByteArrayContent([1]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _bed.Server.Requests.Count);
        Assert.Equal(2, _resource.Sent.Count);
        Assert.NotEqual(_resource.Sent[0].Token, _resource.Sent[1].Token);
    }

    [Fact]
    public async Task SendAsync_ResourceKeepsRefusingTheToken_RetriesOnlyOnce()
    {
        _resource.RefuseTokens = int.MaxValue;

        using var response = await _client.GetAsync("a");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, _resource.Sent.Count);
    }

    [Fact]
    public async Task SendAsync_StreamedBody401_NotRetried()
    {
        _resource.RefuseTokens = int.MaxValue;

        using var response = await _client.PostAsync("upload", new StreamContent(new MemoryStream([1, 2])));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Single(_resource.Sent);
    }

    [Fact]
    public async Task SendAsync_AuthorizationServerRefuses_NothingSentToTheResource()
    {
        _bed.Server.Respond = _ => InMemoryTokenServer.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client"}""");

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => _client.GetAsync("a"));

        Assert.Contains("invalid_client", ex.Message, StringComparison.Ordinal);
        Assert.Empty(_resource.Sent);
    }

    [Fact]
    public async Task SendAsync_AttributionHeadersFromTheCallContext()
    {
        using (AgentCallContext.Begin(new AgentCallContext { AgentId = SpiffeId.Parse("spiffe://example.org/agent/planner/1"), ToolName = "Erp.Get\r\nX: y" }))
        {
            await _client.GetAsync("a");
        }

        var headers = _resource.Sent[0].Headers;
        Assert.Equal("spiffe://example.org/agent/planner/1", headers.GetValues(AttributionHeaders.AgentId).Single());
        Assert.Equal(Uri.EscapeDataString("Erp.Get\r\nX: y"), headers.GetValues(AttributionHeaders.ToolName).Single());
    }

    [Fact]
    public async Task GetAccessTokenAsync_CertificateRotatesBeforeTheTokenRequestIsSent_ReturnsTheNewCertificatesToken()
    {
        var first = _bed.Source.GetCurrent();
        X509Svid? second = null;
        _bed.Server.BeforeSend = svid =>
        {
            _bed.Server.BeforeSend = null;
            second = _bed.Source.Rotate();
            throw new SvidChangedException(); // what the generation handler towards the authorization server does: nothing is sent
        };

        var token = await _bed.State.GetAccessTokenAsync("erp", CancellationToken.None);

        Assert.Equal(InMemoryTokenServer.Token(second!, 1), token);
        Assert.Equal([second!], _bed.Server.Requests);
        Assert.NotSame(first, second);
    }

    public void Dispose()
    {
        _client.Dispose();
        _bed.Dispose();
    }

    /// <summary>The generation handler and the resource server, in memory: it keeps the generation handler's contract (a request bound to
    /// a certificate that is no longer current is not sent; an unsafe method is not sent twice) and answers 200, or 401 invalid_token.</summary>
    private sealed class ResourceStandIn(IX509SvidSource source) : HttpMessageHandler
    {
        public List<(X509Svid Certificate, string? Token, HttpRequestHeaders Headers)> Sent { get; } = [];

        public int RefuseTokens { get; set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var current = source.GetCurrent();
            var state = AgentRequestState.Find(request);
            if (state?.BoundTo is { } bound && !ReferenceEquals(bound, current))
            {
                throw new SvidChangedException();
            }

            if (request.Method == HttpMethod.Post)
            {
                state = AgentRequestState.Of(request);
                if (state.FirstUnsafeAttempt is { } first)
                {
                    throw new UnsafeRetryRefusedException(request.Method, request.RequestUri, first);
                }

                state.FirstUnsafeAttempt = "sent";
            }

            Sent.Add((current, request.Headers.Authorization?.Parameter, request.Headers));
            var response = new HttpResponseMessage(HttpStatusCode.OK);
            if (RefuseTokens-- > 0)
            {
                response.StatusCode = HttpStatusCode.Unauthorized;
                response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Bearer", "error=\"invalid_token\""));
            }

            return Task.FromResult(response);
        }
    }
}
