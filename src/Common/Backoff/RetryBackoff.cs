using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Polly;
using Polly.Retry;

namespace AgentIdentity;

/// <summary>What one attempt of a <see cref="RetryBackoff"/> loop ended with.</summary>
internal enum RetryAttemptResult
{
    /// <summary>Done (it worked, or it must not be retried): the loop returns.</summary>
    Stop = 0,

    /// <summary>It failed: wait the next delay of the series, then try again.</summary>
    Retry,

    /// <summary>It worked for a while and then failed (a stream that delivered and dropped): a new series starts, so the next
    /// attempt waits the first delay.</summary>
    RetryAfterProgress,

    /// <summary>It worked and ended cleanly, and the next attempt should run at once: a new series starts without waiting.</summary>
    RestartNow,
}

/// <summary>One retry of a <see cref="RetryBackoff"/> loop, reported before its delay is waited.</summary>
/// <param name="Attempt">The number of consecutive failures in the current series (1 for the first).</param>
/// <param name="Delay">How long the loop waits before the next attempt.</param>
/// <param name="Exception">The failure, when the attempt threw; <see langword="null"/> when it returned <see cref="RetryAttemptResult.Retry"/>.</param>
internal readonly record struct RetryBackoffEvent(int Attempt, TimeSpan Delay, Exception? Exception);

/// <summary>
/// The SDK's one back-off policy: credential renewal, bound-token requests, the Workload API watcher and the revocation feed all
/// retry through it. Polly's retry strategy computes every delay (<see cref="DelayBackoffType"/>, optional jitter, a cap) and waits
/// on the injected <see cref="TimeProvider"/>; only the parameters differ per use.
/// </summary>
/// <remarks>Pipelines are shared per clock and parameters, so a loop costs no pipeline of its own. Thread-safe.</remarks>
internal sealed class RetryBackoff
{
    private static readonly ResiliencePropertyKey<Observer> ObserverKey = new("AgentIdentity.RetryBackoff.Observer");
    private static readonly ConditionalWeakTable<TimeProvider, ConcurrentDictionary<Parameters, ResiliencePipeline<RetryAttemptResult>>> Pipelines = [];

    private readonly ResiliencePipeline<RetryAttemptResult> _pipeline;

    private RetryBackoff(Parameters parameters, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(parameters.Delay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameters.MaxDelay, parameters.Delay);
        ArgumentNullException.ThrowIfNull(time);
        Type = parameters.Type;
        Delay = parameters.Delay;
        MaxDelay = parameters.MaxDelay;
        UseJitter = parameters.UseJitter;
        _pipeline = Pipelines.GetValue(time, static _ => new()).GetOrAdd(parameters, Build, time);
    }

    /// <summary>Gets how the delays grow.</summary>
    public DelayBackoffType Type { get; }

    /// <summary>Gets the first delay (for exponential back-off with jitter, the median of the first delay).</summary>
    public TimeSpan Delay { get; }

    /// <summary>Gets the longest delay.</summary>
    public TimeSpan MaxDelay { get; }

    /// <summary>Gets a value indicating whether Polly's jitter is applied.</summary>
    public bool UseJitter { get; }

    /// <summary>Exponential back-off: <paramref name="delay"/>, doubling up to <paramref name="maxDelay"/>; with jitter, Polly's decorrelated
    /// jitter (median <paramref name="delay"/> · 2ⁿ, never above <paramref name="maxDelay"/>).</summary>
    public static RetryBackoff Exponential(TimeSpan delay, TimeSpan maxDelay, bool useJitter, TimeProvider time) =>
        new(new Parameters(DelayBackoffType.Exponential, delay, maxDelay, useJitter), time);

    /// <summary>Linear back-off without jitter: <paramref name="step"/>, 2 · <paramref name="step"/>, 3 · <paramref name="step"/>, … up to
    /// <paramref name="maxDelay"/> (go-spiffe's Workload API watcher).</summary>
    public static RetryBackoff Linear(TimeSpan step, TimeSpan maxDelay, TimeProvider time) =>
        new(new Parameters(DelayBackoffType.Linear, step, maxDelay, UseJitter: false), time);

    /// <summary>
    /// Runs <paramref name="attempt"/> until it returns <see cref="RetryAttemptResult.Stop"/>. An exception other than
    /// <see cref="OperationCanceledException"/>, or <see cref="RetryAttemptResult.Retry"/>, waits the series' next delay;
    /// <see cref="RetryAttemptResult.RetryAfterProgress"/> starts a new series and waits its first delay;
    /// <see cref="RetryAttemptResult.RestartNow"/> starts a new series at once.
    /// </summary>
    /// <param name="attempt">One attempt.</param>
    /// <param name="state">Passed to the callbacks (no closure).</param>
    /// <param name="onRetry">Called before each delay is waited; it must not throw.</param>
    /// <param name="cancellationToken">Stops the loop (also during a delay) with an <see cref="OperationCanceledException"/>.</param>
    /// <returns>A task that completes when an attempt returned <see cref="RetryAttemptResult.Stop"/>.</returns>
    public async Task RunAsync<TState>(
        Func<TState, CancellationToken, ValueTask<RetryAttemptResult>> attempt,
        TState state,
        Action<TState, RetryBackoffEvent>? onRetry,
        CancellationToken cancellationToken)
    {
        var observer = new Observer<TState>(attempt, state, onRetry);
        while (true)
        {
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(ObserverKey, observer);
            RetryAttemptResult result;
            try
            {
                result = await _pipeline.ExecuteAsync(static (ctx, o) => o.AttemptAsync(ctx.CancellationToken), context, observer).ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }

            switch (result)
            {
                case RetryAttemptResult.RetryAfterProgress:
                    // A new series: its first attempt reports this failure, so Polly waits the series' first delay before the next real one.
                    observer.ReplayFailure = true;
                    break;
                case RetryAttemptResult.RestartNow:
                    break;
                default:
                    return;
            }
        }
    }

    private static ResiliencePipeline<RetryAttemptResult> Build(Parameters parameters, TimeProvider time) =>
        new ResiliencePipelineBuilder<RetryAttemptResult> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<RetryAttemptResult>
            {
                ShouldHandle = static args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex ? ex is not OperationCanceledException : args.Outcome.Result == RetryAttemptResult.Retry),
                BackoffType = parameters.Type,
                UseJitter = parameters.UseJitter,
                Delay = parameters.Delay,
                MaxDelay = parameters.MaxDelay,
                MaxRetryAttempts = int.MaxValue,
                OnRetry = static args =>
                {
                    if (args.Context.Properties.TryGetValue(ObserverKey, out var observer))
                    {
                        observer.OnRetry(new RetryBackoffEvent(args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception));
                    }

                    return default;
                },
            })
            .Build();

    private readonly record struct Parameters(DelayBackoffType Type, TimeSpan Delay, TimeSpan MaxDelay, bool UseJitter);

    private abstract class Observer
    {
        public bool ReplayFailure { get; set; }

        public abstract void OnRetry(RetryBackoffEvent retry);
    }

    private sealed class Observer<TState>(
        Func<TState, CancellationToken, ValueTask<RetryAttemptResult>> attempt,
        TState state,
        Action<TState, RetryBackoffEvent>? onRetry) : Observer
    {
        public ValueTask<RetryAttemptResult> AttemptAsync(CancellationToken cancellationToken)
        {
            if (ReplayFailure)
            {
                ReplayFailure = false;
                return ValueTask.FromResult(RetryAttemptResult.Retry);
            }

            return attempt(state, cancellationToken);
        }

        public override void OnRetry(RetryBackoffEvent retry) => onRetry?.Invoke(state, retry);
    }
}
