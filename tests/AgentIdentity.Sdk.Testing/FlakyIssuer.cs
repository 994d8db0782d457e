namespace AgentIdentity.Testing;

/// <summary>Wraps a real issuer; while <see cref="IsDown"/> is set, every request fails as a CA outage would. Records attempt times.</summary>
public sealed class FlakyIssuer(IX509SvidIssuer inner, TimeProvider time) : IX509SvidIssuer
{
    private readonly List<DateTimeOffset> _attempts = [];

    public volatile bool IsDown;

    public int Attempts { get { lock (_attempts) { return _attempts.Count; } } }

    public IReadOnlyList<DateTimeOffset> AttemptTimes { get { lock (_attempts) { return [.. _attempts]; } } }

    public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
    {
        lock (_attempts)
        {
            _attempts.Add(time.GetUtcNow());
        }

        return IsDown
            ? ValueTask.FromException<X509SvidIssuance>(new CertificateIssuanceException("CA unreachable (connection refused)."))
            : inner.IssueAsync(request, cancellationToken);
    }
}
