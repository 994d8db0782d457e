using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentIdentity;

/// <summary>
/// Wraps an issuer so that revocation holds: it refuses to issue for a revoked identity (or one below a revoked identity), and
/// records every issued certificate in the registry so that identity revocations reach the CRL and OCSP.
/// </summary>
/// <remarks>Thread-safe when the inner issuer and registry are.</remarks>
public sealed class RevocationAwareIssuer : IX509SvidIssuer
{
    private readonly IX509SvidIssuer _inner;
    private readonly IRevocationRegistry _registry;
    private readonly ILogger _logger;

    /// <summary>Initializes a new instance of the <see cref="RevocationAwareIssuer"/> class.</summary>
    /// <param name="inner">The issuer that signs.</param>
    /// <param name="registry">The revocation registry.</param>
    /// <param name="logger">Logging; <see langword="null"/> for none.</param>
    public RevocationAwareIssuer(IX509SvidIssuer inner, IRevocationRegistry registry, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(registry);
        _inner = inner;
        _registry = registry;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the registry.</summary>
    public IRevocationRegistry Registry => _registry;

    /// <inheritdoc/>
    /// <exception cref="CertificateIssuanceException">The identity, an ancestor path, or the delegating parent is revoked.</exception>
    public async ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var revoked = await _registry.GetIdentityRevocationAsync(request.Id, cancellationToken).ConfigureAwait(false);
        if (revoked is null && request.Delegation is { } delegation)
        {
            revoked = await _registry.GetCertificateRevocationAsync(delegation.ParentCertificate.SerialNumber, cancellationToken).ConfigureAwait(false);
        }

        if (revoked is not null)
        {
            _logger.IssuanceRefusedRevoked(request.Id, revoked);
            throw new CertificateIssuanceException($"Cannot issue '{request.Id}': it is revoked ({revoked}). A revoked identity gets no new certificates; start a new agent instance.");
        }

        var issuance = await _inner.IssueAsync(request, cancellationToken).ConfigureAwait(false);
        await _registry.RecordIssuedAsync(issuance.Certificate, cancellationToken).ConfigureAwait(false);
        return issuance;
    }
}
