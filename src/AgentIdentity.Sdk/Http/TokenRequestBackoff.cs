using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace AgentIdentity;

/// <summary>
/// The back-off of one client's token requests, per certificate. After a failed request for a certificate, requests for it fail fast
/// (<see cref="InBackOff"/>) until the back-off delay has passed; the next request then makes one attempt. The run of consecutive failures
/// for one certificate is one series of the SDK's back-off policy (<see cref="RetryBackoff"/>: Polly's exponential delays with jitter,
/// 1 s median doubling up to 30 s), whose attempts are made on demand only: nothing is sent while no request needs a token. A new
/// certificate is never held back (it may be the fix, for example one just registered for <c>self_signed_tls_client_auth</c>).
/// </summary>
/// <remarks>Thread-safe; the caller (<see cref="BoundTokenCache"/>) makes one attempt at a time.</remarks>
internal sealed class TokenRequestBackoff : IDisposable
{
    /// <summary>The median of the first delay.</summary>
    internal static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay.</summary>
    internal static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    private readonly RetryBackoff _backoff;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Series? _series;
    private bool _disposed;

    public TokenRequestBackoff(TimeProvider time)
    {
        _time = time;
        _backoff = RetryBackoff.Exponential(FirstDelay, MaxDelay, useJitter: true, time);
    }

    /// <summary>Whether the last attempt for <paramref name="svid"/> failed and its back-off has not elapsed at <paramref name="nowTicks"/>.</summary>
    public bool InBackOff(X509Svid svid, long nowTicks, [NotNullWhen(true)] out TokenRequestFailure? failure)
    {
        failure = Volatile.Read(ref _series) is { } series && ReferenceEquals(series.Svid, svid) ? series.Failure : null;
        return failure is not null && nowTicks < failure.RetryAtTicks;
    }

    /// <summary>Makes one attempt for <paramref name="svid"/>: <paramref name="request"/> runs in the certificate's series. A failure is
    /// recorded (and its back-off computed) before the returned task fails, so that no request can start another attempt in between.
    /// <see cref="SvidChangedException"/> and cancellation end the series without being recorded.</summary>
    public Task<T> AttemptAsync<T>(X509Svid svid, Func<CancellationToken, Task<T>> request, CancellationToken cancellationToken)
    {
        var attempt = new Attempt<T>(request, cancellationToken);
        Series series;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            series = _series is { } current && ReferenceEquals(current.Svid, svid) && !current.IsEnded ? current : StartSeries(svid);
        }

        series.Post(attempt);
        return attempt.Completion.Task;
    }

    private Series StartSeries(X509Svid svid)
    {
        _series?.End();
        var series = new Series(svid, _time);
        series.Run = _backoff.RunAsync(static (s, ct) => s.NextAttemptAsync(ct), series, static (s, retry) => s.OnRetry(retry), series.Stop);
        _ = series.Run.ContinueWith(
            static (t, state) =>
            {
                _ = t.Exception; // observed: a series ends by cancellation when a new certificate or disposal ends it
                var ended = (Series)state!;
                ended.CompleteAbandoned();
                ended.Dispose();
            },
            series,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        Volatile.Write(ref _series, series);
        return series;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _series?.End();
        }
    }

    private abstract class AttemptBase
    {
        /// <summary>Gets what the request failed with, once it has run; <see langword="null"/> when it succeeded.</summary>
        public Exception? Error { get; protected set; }

        /// <summary>Gets a value indicating whether the error is no failure of the server: the certificate changed, or the request was cancelled.</summary>
        public bool IsNotAFailure { get; protected set; }

        /// <summary>Runs the request; never throws.</summary>
        public abstract Task RunAsync();

        /// <summary>Completes the caller's task with the outcome (idempotent).</summary>
        public abstract void Complete();

        /// <summary>Fails the caller's task, when the request never ran (idempotent).</summary>
        public abstract void Abandon();
    }

    private sealed class Attempt<T>(Func<CancellationToken, Task<T>> request, CancellationToken cancellationToken) : AttemptBase
    {
        private T? _result;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task RunAsync()
        {
            try
            {
                _result = await request(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Error = ex;
                IsNotAFailure = ex is SvidChangedException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested);
            }
        }

        public override void Complete()
        {
            if (Error is null)
            {
                Completion.TrySetResult(_result!);
            }
            else
            {
                Completion.TrySetException(Error);
            }
        }

        public override void Abandon() => Completion.TrySetException(new SvidChangedException("The certificate changed before its token was requested; nothing was sent."));
    }

    /// <summary>The consecutive attempts for one certificate; it ends with the first success (or a new certificate, or disposal).</summary>
    private sealed class Series(X509Svid svid, TimeProvider time) : IDisposable
    {
        private readonly Channel<AttemptBase> _attempts = Channel.CreateUnbounded<AttemptBase>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationTokenSource _stop = new();
        private AttemptBase? _current;
        private TokenRequestFailure? _failure;
        private int _ended;

        public X509Svid Svid { get; } = svid;

        public TokenRequestFailure? Failure => Volatile.Read(ref _failure);

        public CancellationToken Stop => _stop.Token;

        public Task Run { get; set; } = Task.CompletedTask;

        public bool IsEnded => Volatile.Read(ref _ended) != 0;

        public void Post(AttemptBase attempt)
        {
            if (!_attempts.Writer.TryWrite(attempt))
            {
                attempt.Abandon();
            }
        }

        public async ValueTask<RetryAttemptResult> NextAttemptAsync(CancellationToken cancellationToken)
        {
            var attempt = await _attempts.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _current, attempt);
            await attempt.RunAsync().ConfigureAwait(false);
            if (attempt.Error is null || attempt.IsNotAFailure || IsEnded)
            {
                if (attempt.Error is null)
                {
                    Volatile.Write(ref _failure, null);
                }

                // Ended before the caller sees the outcome, so that the caller's next attempt starts a new series.
                End();
                attempt.Complete();
                return RetryAttemptResult.Stop;
            }

            return RetryAttemptResult.Retry; // OnRetry records the failure, then completes the caller's task
        }

        public void OnRetry(RetryBackoffEvent retry)
        {
            var attempt = Volatile.Read(ref _current)!;
            Volatile.Write(ref _failure, new TokenRequestFailure(retry.Attempt, (time.GetUtcNow() + retry.Delay).UtcTicks, attempt.Error!));
            attempt.Complete();
        }

        public void End()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                _attempts.Writer.TryComplete();
                _stop.Cancel();
            }
        }

        /// <summary>After the series stopped: no caller may wait for ever.</summary>
        public void CompleteAbandoned()
        {
            End();
            Volatile.Read(ref _current)?.Complete();
            while (_attempts.Reader.TryRead(out var pending))
            {
                pending.Abandon();
            }
        }

        /// <summary>Called once the series has stopped (after <see cref="End"/>).</summary>
        public void Dispose() => _stop.Dispose();
    }
}

/// <summary>The last failed token request for a certificate.</summary>
/// <param name="Count">How many requests for the certificate have failed in a row.</param>
/// <param name="RetryAtTicks">When (UTC ticks) the next attempt may be made.</param>
/// <param name="Error">What the last attempt failed with.</param>
internal sealed record TokenRequestFailure(int Count, long RetryAtTicks, Exception Error);
