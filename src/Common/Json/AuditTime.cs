namespace AgentIdentity.Audit;

/// <summary>The timestamp form of audit leaves and checkpoints, shared by the core (events) and the audit log package.</summary>
internal static class AuditTime
{
    /// <summary>Formats a timestamp as written in the <c>time</c> member: RFC 3339 UTC with microseconds.</summary>
    public static string Format(DateTimeOffset time)
    {
        var t = time.UtcDateTime;
        return string.Create(27, t, static (span, t) =>
        {
            Digits(span[..4], t.Year);
            span[4] = '-';
            Digits(span.Slice(5, 2), t.Month);
            span[7] = '-';
            Digits(span.Slice(8, 2), t.Day);
            span[10] = 'T';
            Digits(span.Slice(11, 2), t.Hour);
            span[13] = ':';
            Digits(span.Slice(14, 2), t.Minute);
            span[16] = ':';
            Digits(span.Slice(17, 2), t.Second);
            span[19] = '.';
            Digits(span.Slice(20, 6), (int)(t.Ticks % TimeSpan.TicksPerSecond / 10));
            span[26] = 'Z';
        });

        static void Digits(Span<char> destination, int value)
        {
            for (var i = destination.Length - 1; i >= 0; i--)
            {
                destination[i] = (char)('0' + (value % 10));
                value /= 10;
            }
        }
    }
}
