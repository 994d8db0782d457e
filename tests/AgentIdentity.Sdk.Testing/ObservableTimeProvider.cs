using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Testing;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports every timer created on it, so that a test can await "the code under test is
/// now waiting for N" and advance exactly that far, instead of sleeping.
/// </summary>
public sealed class ObservableTimeProvider : TimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public ObservableTimeProvider(DateTimeOffset start) => Fake = new FakeTimeProvider(start);

    public FakeTimeProvider Fake { get; }

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => Fake.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = Fake.CreateTimer(callback, state, dueTime, period);
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _timers.Writer.TryWrite(dueTime);
        }

        return timer;
    }

    public void Advance(TimeSpan by) => Fake.Advance(by);

    /// <summary>Waits until the code under test creates its next timer and returns the timer's due time.</summary>
    public async Task<TimeSpan> NextTimerAsync() =>
        await _timers.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Drops timers reported so far.</summary>
    public void DiscardTimers()
    {
        while (_timers.Reader.TryRead(out _))
        {
        }
    }
}
