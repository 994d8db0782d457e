namespace AgentIdentity.Issuer;

/// <summary>A counter that can be awaited: <see cref="WhenAboveAsync"/> completes once it exceeds a value seen before.</summary>
/// <remarks>Thread-safe. Lets a caller (a test, a health check) await "the next connection" or "the next catch-up" without polling.</remarks>
internal sealed class CountSignal
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _count;

    /// <summary>Gets the count.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Completes when the count exceeds <paramref name="count"/>.</summary>
    /// <param name="count">A previous value of <see cref="Count"/>.</param>
    /// <returns>A task that completes after the next increment past it.</returns>
    public Task WhenAboveAsync(long count)
    {
        lock (_gate)
        {
            return _count > count ? Task.CompletedTask : _next.Task;
        }
    }

    /// <summary>Increments the count and completes the waiters.</summary>
    public void Increment()
    {
        TaskCompletionSource done;
        lock (_gate)
        {
            Interlocked.Increment(ref _count);
            done = _next;
            _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        done.TrySetResult();
    }
}
