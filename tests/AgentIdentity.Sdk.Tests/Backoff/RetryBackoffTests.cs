namespace AgentIdentity.Tests.Backoff;

/// <summary>The SDK's one back-off policy: Polly computes the delays, the loop waits them on the injected clock.</summary>
public sealed class RetryBackoffTests
{
    private readonly ObservableTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task RunAsync_ExponentialWithoutJitter_DoublesUpToTheCap()
    {
        var backoff = RetryBackoff.Exponential(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), useJitter: false, _time);
        var events = new List<RetryBackoffEvent>();
        var attempts = 0;
        var run = backoff.RunAsync((_, _) => ValueTask.FromResult(++attempts < 7 ? RetryAttemptResult.Retry : RetryAttemptResult.Stop), 0, (_, e) => events.Add(e), CancellationToken.None);

        await AdvanceThroughAsync(6);
        await run;

        Assert.Equal([100, 200, 400, 800, 1000, 1000], events.Select(e => (int)e.Delay.TotalMilliseconds));
        Assert.Equal([1, 2, 3, 4, 5, 6], events.Select(e => e.Attempt));
        Assert.Equal(7, attempts);
    }

    [Fact]
    public async Task RunAsync_Linear_StepsUpToTheCap()
    {
        var backoff = RetryBackoff.Linear(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), _time);
        var attempts = 0;
        var run = backoff.RunAsync((_, _) => ValueTask.FromResult(++attempts < 5 ? RetryAttemptResult.Retry : RetryAttemptResult.Stop), 0, null, CancellationToken.None);

        Assert.Equal([1, 2, 3, 3], await AdvanceThroughAsync(4));
        await run;
    }

    [Fact]
    public async Task RunAsync_FailureAfterProgress_StartsANewSeriesAtTheFirstDelay()
    {
        var backoff = RetryBackoff.Linear(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), _time);
        RetryAttemptResult[] script = [RetryAttemptResult.Retry, RetryAttemptResult.Retry, RetryAttemptResult.RetryAfterProgress, RetryAttemptResult.Retry, RetryAttemptResult.Stop];
        var attempts = 0;
        var events = new List<RetryBackoffEvent>();
        var run = backoff.RunAsync((_, _) => ValueTask.FromResult(script[attempts++]), 0, (_, e) => events.Add(e), CancellationToken.None);

        Assert.Equal([1, 2, 1, 2], await AdvanceThroughAsync(4));
        await run;
        Assert.Equal([1, 2, 1, 2], events.Select(e => e.Attempt));
        Assert.Equal(5, attempts);
    }

    [Fact]
    public async Task RunAsync_RestartNow_RunsTheNextAttemptWithoutWaitingAndResetsTheSeries()
    {
        var backoff = RetryBackoff.Linear(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), _time);
        RetryAttemptResult[] script = [RetryAttemptResult.Retry, RetryAttemptResult.RestartNow, RetryAttemptResult.Retry, RetryAttemptResult.Stop];
        var attempts = 0;
        var run = backoff.RunAsync((_, _) => ValueTask.FromResult(script[attempts++]), 0, null, CancellationToken.None);

        Assert.Equal([1, 1], await AdvanceThroughAsync(2));
        await run;
        Assert.Equal(4, attempts);
    }

    [Fact]
    public async Task RunAsync_ExceptionIsRetriedAndReported_CancellationIsNot()
    {
        var backoff = RetryBackoff.Exponential(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: true, _time);
        using var stop = new CancellationTokenSource();
        var events = new List<RetryBackoffEvent>();
        var run = backoff.RunAsync<int>((_, _) => throw new InvalidOperationException("CA unreachable"), 0, (_, e) => events.Add(e), stop.Token);

        var delay = await _time.NextTimerAsync();
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        var retry = Assert.Single(events);
        Assert.Equal("CA unreachable", retry.Exception?.Message);
        Assert.InRange(retry.Delay - delay, TimeSpan.Zero, TimeSpan.FromMilliseconds(1)); // the timer runs in whole milliseconds
        Assert.InRange(delay, TimeSpan.Zero, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task RunAsync_ExponentialWithJitter_SpreadAndGrowing()
    {
        var firsts = new List<TimeSpan>();
        var lasts = new List<TimeSpan>();
        for (var run = 0; run < 20; run++)
        {
            var time = new ObservableTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
            var backoff = RetryBackoff.Exponential(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), useJitter: true, time);
            var attempts = 0;
            var loop = backoff.RunAsync((_, _) => ValueTask.FromResult(++attempts < 6 ? RetryAttemptResult.Retry : RetryAttemptResult.Stop), 0, null, CancellationToken.None);
            var delays = new List<TimeSpan>();
            for (var i = 0; i < 5; i++)
            {
                delays.Add(await time.NextTimerAsync());
                time.Advance(delays[^1]);
            }

            await loop;
            Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, TimeSpan.FromSeconds(30)));
            firsts.Add(delays[0]);
            lasts.Add(delays[4]);
        }

        Assert.True(firsts.Distinct().Count() > 10, "the first delays are not jittered");
        Assert.True(lasts.Sum(d => d.TotalSeconds) > 4 * firsts.Sum(d => d.TotalSeconds), "the delays do not grow");
    }

    /// <summary>Waits for each of the next <paramref name="count"/> delays, advances the clock past it, and returns them in seconds.</summary>
    private async Task<List<double>> AdvanceThroughAsync(int count)
    {
        var delays = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var delay = await _time.NextTimerAsync();
            delays.Add(delay.TotalSeconds);
            _time.Advance(delay);
        }

        return delays;
    }
}
