namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>An issuer that delegates to a real CA until told to fail: the only way to make renewal fail on demand.</summary>
internal sealed class SwitchableIssuer(IX509SvidIssuer inner) : IX509SvidIssuer
{
    public volatile bool Fail;

    public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default) =>
        Fail ? ValueTask.FromException<X509SvidIssuance>(new CertificateIssuanceException("issuer unavailable (test)")) : inner.IssueAsync(request, cancellationToken);
}
