namespace AgentIdentity.Testing;

/// <summary>Waits on a revocation feed subscriber's signals instead of the clock.</summary>
public static class RevocationFeedSubscriberWaits
{
    /// <summary>Completes once <paramref name="subscriber"/> is connected (at once if it already is).</summary>
    /// <param name="subscriber">The subscriber.</param>
    /// <param name="safety">The safety net: the task faults with <see cref="TimeoutException"/> after it.</param>
    /// <returns>A task that completes on connection.</returns>
    public static Task WaitConnectedAsync(this RevocationFeedSubscriber subscriber, TimeSpan safety)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ConnectionChanged += (_, up) =>
        {
            if (up)
            {
                connected.TrySetResult();
            }
        };
        if (subscriber.IsConnected)
        {
            connected.TrySetResult();
        }

        return connected.Task.WaitAsync(safety);
    }
}
