using System.Globalization;
using System.Net;

namespace AgentIdentity.Tests.Http;

/// <summary>The token cache, its back-off and the token client, in memory over a fake clock.</summary>
public sealed class BoundTokenCacheTests : IDisposable
{
    private readonly TokenTestBed _bed = new();

    [Fact]
    public async Task GetTokenAsync_FreshToken_FromTheCacheWithoutAskingTheServer()
    {
        var svid = _bed.Source.GetCurrent();
        var first = await _bed.Cache.GetTokenAsync(svid);
        _bed.Time.Advance(TimeSpan.FromMinutes(8));
        var task = _bed.Cache.GetTokenAsync(svid);

        Assert.True(task.IsCompletedSuccessfully); // synchronously, from the cache
        Assert.Same(first, await task);
        Assert.Single(_bed.Server.Requests);
    }

    [Fact]
    public async Task GetTokenAsync_InsideTheRefreshLead_ServesTheCachedTokenAndRefreshesOnceInTheBackground()
    {
        var svid = _bed.Source.GetCurrent();
        var first = await _bed.Cache.GetTokenAsync(svid);
        var release = new TaskCompletionSource();
        _bed.Server.Hold = release.Task;
        _bed.Time.Advance(TimeSpan.FromSeconds(541)); // 600 s token: refreshed in its last 60 s

        Assert.Same(first, await _bed.Cache.GetTokenAsync(svid));
        Assert.Same(first, await _bed.Cache.GetTokenAsync(svid));
        release.SetResult();
        var refreshed = await WaitForAsync(async () => await _bed.Cache.GetTokenAsync(svid) is var t && !ReferenceEquals(t, first) ? t : null);

        Assert.Equal(2, _bed.Server.Requests.Count);
        Assert.Equal(InMemoryTokenServer.Token(svid, 2), refreshed.AccessToken);
    }

    [Fact]
    public async Task GetTokenAsync_ConcurrentMisses_OneRequestToTheServer()
    {
        var release = new TaskCompletionSource();
        _bed.Server.Hold = release.Task;
        var svid = _bed.Source.GetCurrent();

        var callers = Enumerable.Range(0, 8).Select(_ => _bed.Cache.GetTokenAsync(svid).AsTask()).ToArray();
        release.SetResult();
        var tokens = await Task.WhenAll(callers);

        Assert.Single(_bed.Server.Requests);
        Assert.All(tokens, t => Assert.Same(tokens[0], t));
    }

    [Fact]
    public async Task GetTokenAsync_CertificateSuperseded_TheOldTokenIsDroppedAndTheNewCertificateGetsItsOwn()
    {
        var first = await _bed.Cache.GetTokenAsync(_bed.Source.GetCurrent());
        var next = _bed.Source.Rotate();

        var token = await _bed.Cache.GetTokenAsync(next);

        Assert.NotSame(first, token);
        Assert.Same(next, token.Svid);
        Assert.Equal(InMemoryTokenServer.Token(next, 2), token.AccessToken);
    }

    [Fact]
    public async Task GetTokenAsync_TokenBoundToAnotherCertificate_Refused()
    {
        var other = new RotatingTestSource(_bed.Time);
        _bed.Server.Respond = _ => InMemoryTokenServer.Json(
            HttpStatusCode.OK, $$"""{"access_token":"{{InMemoryTokenServer.Token(other.GetCurrent(), 1)}}","token_type":"Bearer","expires_in":600}""");

        var ex = await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(_bed.Source.GetCurrent()).AsTask());

        Assert.Contains("bound to another certificate", ex.Message, StringComparison.Ordinal);
        other.Dispose();
    }

    [Fact]
    public async Task GetTokenAsync_ServerKeepsFailing_FailsFastUntilTheAnnouncedTimeThenAsksOnceMore()
    {
        _bed.Server.Respond = _ => InMemoryTokenServer.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client"}""");
        var svid = _bed.Source.GetCurrent();
        var start = _bed.Time.GetUtcNow();

        var first = await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(svid).AsTask());
        Assert.Contains("invalid_client", first.Message, StringComparison.Ordinal);
        for (var failures = 1; failures <= 6; failures++)
        {
            var fast = await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(svid).AsTask());
            Assert.Contains($"after {failures} consecutive failure(s)", fast.Message, StringComparison.Ordinal);
            Assert.Equal(failures, _bed.Server.Requests.Count);
            var retryAt = NextAttempt(fast);
            Assert.InRange(retryAt - _bed.Time.GetUtcNow(), TimeSpan.Zero, TimeSpan.FromSeconds(30)); // Polly's delays, capped at 30 s

            if (retryAt - _bed.Time.GetUtcNow() > TimeSpan.FromMilliseconds(1))
            {
                _bed.Time.Advance(retryAt - _bed.Time.GetUtcNow() - TimeSpan.FromMilliseconds(1));
                await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(svid).AsTask());
                Assert.Equal(failures, _bed.Server.Requests.Count); // still inside the back-off: not asked
            }

            _bed.Time.Advance(retryAt - _bed.Time.GetUtcNow());
            var attempt = await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(svid).AsTask());
            Assert.Contains("invalid_client", attempt.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("consecutive", attempt.Message, StringComparison.Ordinal);
            Assert.Equal(failures + 1, _bed.Server.Requests.Count);
        }

        // Polly's exponential series (1 s median, doubling): six delays add up to far more than six first delays.
        Assert.True(_bed.Time.GetUtcNow() - start > TimeSpan.FromSeconds(10), $"the back-off did not grow: {_bed.Time.GetUtcNow() - start}");
    }

    [Fact]
    public async Task GetTokenAsync_NewCertificateDuringBackOff_AskedAtOnceAndTheFailureIsNotKept()
    {
        _bed.Server.Respond = _ => InMemoryTokenServer.Json(HttpStatusCode.BadRequest, """{"error":"invalid_client"}""");
        await Assert.ThrowsAsync<BoundTokenException>(() => _bed.Cache.GetTokenAsync(_bed.Source.GetCurrent()).AsTask());
        _bed.Server.Respond = null;

        var next = _bed.Source.Rotate();
        var token = await _bed.Cache.GetTokenAsync(next);

        Assert.Same(next, token.Svid);
        Assert.Equal(2, _bed.Server.Requests.Count);
    }

    public void Dispose() => _bed.Dispose();

    private static DateTimeOffset NextAttempt(BoundTokenException ex)
    {
        const string Marker = "the next attempt is made after ";
        var start = ex.Message.IndexOf(Marker, StringComparison.Ordinal) + Marker.Length;
        var end = ex.Message.IndexOf(". ", start, StringComparison.Ordinal);
        return DateTimeOffset.Parse(ex.Message[start..end], CultureInfo.InvariantCulture);
    }

    private static async Task<BoundToken> WaitForAsync(Func<Task<BoundToken?>> probe)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await probe() is { } token)
            {
                return token;
            }

            await Task.Yield();
            timeout.Token.ThrowIfCancellationRequested();
        }
    }
}
