using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.AspNetCore.Tests.Revocation;

/// <summary>The feed over real sockets: interruption and resume, forged entries, clock skew, and the HTTP endpoints.</summary>
public sealed class RevocationFeedTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = TestPki.ForCorp();
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private RevocationIssuerServer _issuer = null!;

    public async Task InitializeAsync() => _issuer = await RevocationIssuerServer.StartAsync(_pki.Ca);

    public async Task DisposeAsync() => await _issuer.DisposeAsync();

    public void Dispose()
    {
        _http.Dispose();
        _pki.Dispose();
    }

    private RevocationFeedSubscriber Subscribe(Uri feed, RevocationSet? set = null, TimeProvider? time = null, X509Certificate2? signer = null) =>
        new(_http, feed, new RevocationFeedVerifier(signer ?? _issuer.Signer.Certificate, TestPki.Corp), set ?? new RevocationSet(), timeProvider: time);

    [Fact]
    public async Task Feed_InterruptedThenResumed_CatchesUpFromSequenceWithoutGaps()
    {
        await using var proxy = new TcpProxy(_issuer.BaseAddress);
        await using var subscriber = Subscribe(proxy.Rewrite(_issuer.FeedUri));
        var drops = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconnects = 0;
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ConnectionChanged += (_, up) =>
        {
            if (!up)
            {
                drops.TrySetResult();
            }
            else if (Interlocked.Increment(ref reconnects) == 2)
            {
                reconnected.TrySetResult();
            }
        };
        var connected = subscriber.WaitConnectedAsync(Safety);
        subscriber.Start();
        await connected;
        await _issuer.Registry.RevokeCertificateAsync("01");
        await _issuer.Registry.RevokeCertificateAsync("02");
        await subscriber.Set.WaitForSequenceAsync(2).WaitAsync(Safety);

        proxy.Interrupt();
        await drops.Task.WaitAsync(Safety);
        await _issuer.Registry.RevokeCertificateAsync("03");
        await _issuer.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://corp.example/agent/x/1"));
        await _issuer.Registry.RevokeCertificateAsync("05");
        Assert.Equal(2, subscriber.Set.LastSequence);
        proxy.Resume();

        await subscriber.Set.WaitForSequenceAsync(5).WaitAsync(Safety);
        await reconnected.Task.WaitAsync(Safety);
        Assert.Equal([1L, 2L, 3L, 4L, 5L], subscriber.Set.GetEntries().Select(e => e.Sequence));
        Assert.True(subscriber.Set.IsRevoked("03", default, null, out _));
        Assert.True(subscriber.Set.IsIdentityRevoked(SpiffeId.Parse("spiffe://corp.example/agent/x/1/task/t"), out _));
        Assert.Equal(0, subscriber.RejectedEntries);
    }

    [Fact]
    public async Task Feed_ForgedEntry_IsRejectedAndNeverApplied()
    {
        // A rogue feed that signs with another CA's key (same trust domain name): the subscriber must refuse every entry.
        using var rogueCa = DevelopmentCertificateAuthority.Create(TestPki.Corp);
        await using var rogue = await RevocationIssuerServer.StartAsync(rogueCa);
        await rogue.Registry.RevokeIdentityAsync(SpiffeId.Parse("spiffe://corp.example/svc/erp"));
        var set = new RevocationSet();
        await using var subscriber = Subscribe(rogue.FeedUri, set);
        var rejected = new TaskCompletionSource<RevocationFeedException>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.EntryRejected += (_, ex) => rejected.TrySetResult(ex);

        subscriber.Start();

        var ex = await rejected.Task.WaitAsync(Safety);
        Assert.Contains("forged", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, set.LastSequence);
        Assert.False(set.IsIdentityRevoked(SpiffeId.Parse("spiffe://corp.example/svc/erp"), out _));
    }

    [Fact]
    public async Task Feed_TamperedEntryInTransit_IsRejected_ThenGenuineEntryApplied()
    {
        // A feed server that serves a tampered copy of entry 1 first, then the genuine entries.
        var genuine = await _issuer.Registry.RevokeCertificateAsync("0A");
        var tampered = genuine.GetEncoded();
        tampered[^5] ^= 0x01; // inside the signature
        var served = 0;
        var app = TestHost.CreateBuilder().Build();
        app.MapGet("/feed", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            var data = Interlocked.Increment(ref served) == 1 ? tampered : genuine.GetEncoded();
            await context.Response.WriteAsync($"id: 1\nevent: revocation\ndata: {System.Buffers.Text.Base64Url.EncodeToString(data)}\n\n");
            await context.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        });
        await using var host = await TestHost.StartAsync(app);
        await using var subscriber = Subscribe(new Uri(host.Address, "/feed"));

        subscriber.Start();

        await subscriber.Set.WaitForSequenceAsync(1).WaitAsync(Safety);
        Assert.Equal(1, subscriber.RejectedEntries);
        Assert.True(subscriber.Set.IsRevoked("0A", default, null, out _));
    }

    [Theory]
    [InlineData(-36)]
    [InlineData(+36)]
    public async Task Feed_SubscriberClockSkewedByHours_StillAppliesRevocationsAtOnce(int hours)
    {
        // Entries carry the issuer's time; a subscriber whose clock is far off applies them on receipt anyway.
        var skewed = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(hours));
        await using var subscriber = Subscribe(_issuer.FeedUri, time: skewed);
        var connected = subscriber.WaitConnectedAsync(Safety);
        subscriber.Start();
        await connected;

        var entry = await _issuer.Registry.RevokeCertificateAsync("0B");

        await subscriber.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(Safety);
        Assert.True(subscriber.Set.IsRevoked("0b", default, null, out var applied));
        Assert.Equal(entry.RevokedAt, applied.RevokedAt);
        Assert.Equal(skewed.GetUtcNow(), subscriber.LastContact);
    }

    [Fact]
    public async Task Endpoints_CrlOcspLongPollAndBadInput()
    {
        var svid = _pki.IssueSvid("spiffe://corp.example/agent/planner/1");
        await _issuer.Registry.RecordIssuedAsync(svid.Certificate);
        await _issuer.Registry.RevokeIdentityAsync(svid.Id);

        using var crl = await _http.GetAsync(new Uri(_issuer.BaseAddress, "/revocation/crl"));
        Assert.Equal("application/pkix-crl", crl.Content.Headers.ContentType?.MediaType);
        CertificateRevocationListBuilder.Load(await crl.Content.ReadAsByteArrayAsync(), out var crlNumber);
        Assert.True(crlNumber > 0);

        var poll = await _http.GetFromJsonAsync<string[]>(new Uri(_issuer.BaseAddress, "/revocation/feed/poll?after=0"));
        using var verifier = new RevocationFeedVerifier(_issuer.Signer.Certificate, TestPki.Corp);
        Assert.Equal(svid.Id, verifier.Verify(Assert.Single(poll!)).Id);

        using var bad = await _http.GetAsync(new Uri(_issuer.BaseAddress, "/revocation/feed?after=abc"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("sequence number", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The refused value is quoted with its control characters escaped: it cannot forge a log line (issue 18, defect 15).
        using var injected = await _http.GetAsync(new Uri(_issuer.BaseAddress, "/revocation/feed?after=1%0D%0Aforged%00"));
        var injectedText = await injected.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, injected.StatusCode);
        Assert.Contains(@"'1\x0D\x0Aforged\x00'", injectedText, StringComparison.Ordinal);
        Assert.DoesNotContain(injectedText, c => c is '\r' or '\n' or '\0');

        using var wrongType = await _http.PostAsync(new Uri(_issuer.BaseAddress, "/revocation/ocsp"), new ByteArrayContent([1, 2, 3]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);

        var garbage = new ByteArrayContent([1, 2, 3]);
        garbage.Headers.ContentType = new("application/ocsp-request");
        using var malformed = await _http.PostAsync(new Uri(_issuer.BaseAddress, "/revocation/ocsp"), garbage);
        Assert.Equal("application/ocsp-response", malformed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Org.BouncyCastle.Ocsp.OcspRespStatus.MalformedRequest, new Org.BouncyCastle.Ocsp.OcspResp(await malformed.Content.ReadAsByteArrayAsync()).Status);
    }
}
