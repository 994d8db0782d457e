using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// Validated callers keyed by their leaf certificate (<see cref="CertificateKeyedCache{TValue}"/>). Bounded; an entry is used
/// only while the certificate chain is within its validity window and the trust bundle it was validated against is still the
/// current one. Failures are never cached.
/// </summary>
internal sealed class AgentCallerCache(int capacity)
{
    private readonly CertificateKeyedCache<AgentCaller> _entries = new(capacity);

    // Requests on one connection share one certificate object: find its caller without comparing the certificate again.
    private readonly ConditionalWeakTable<X509Certificate2, AgentCaller> _byConnectionCertificate = new();

    public int Count => _entries.Count;

    /// <summary>Looks the certificate up, first by object (same connection), then by content (same certificate, new connection).</summary>
    public bool TryGet(X509Certificate2 certificate, DateTimeOffset now, TimeSpan skew, ITrustBundleSource bundles, [NotNullWhen(true)] out AgentCaller? caller)
    {
        if (_byConnectionCertificate.TryGetValue(certificate, out caller))
        {
            if (IsUsable(caller, now, skew, bundles))
            {
                return true;
            }

            _byConnectionCertificate.Remove(certificate);
        }

        var raw = certificate.RawDataMemory.Span;
        if (_entries.TryGetValue(raw, out caller))
        {
            if (IsUsable(caller, now, skew, bundles))
            {
                _byConnectionCertificate.AddOrUpdate(certificate, caller);
                return true;
            }

            _entries.Remove(raw);
        }

        caller = null;
        return false;
    }

    public void Remember(X509Certificate2 certificate, AgentCaller caller) => _byConnectionCertificate.AddOrUpdate(certificate, caller);

    public void Add(AgentCaller caller, DateTimeOffset now) => _entries.Set(caller.RawData, caller, cached => cached.NotAfter < now);

    private static bool IsUsable(AgentCaller caller, DateTimeOffset now, TimeSpan skew, ITrustBundleSource bundles) =>
        now - skew <= caller.NotAfter && now + skew >= caller.NotBefore &&
        bundles.TryGetBundle(caller.TrustDomain, out var bundle) && ReferenceEquals(bundle, caller.Bundle);
}
