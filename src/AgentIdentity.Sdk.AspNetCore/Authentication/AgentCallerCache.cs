using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.AspNetCore;

/// <summary>
/// Validated callers keyed by the SHA-256 of their leaf certificate. Bounded; an entry is used only while the certificate
/// chain is within its validity window and the trust bundle it was validated against is still the current one.
/// Failures are never cached.
/// </summary>
internal sealed class AgentCallerCache(int capacity)
{
    private readonly ConcurrentDictionary<Sha256Key, AgentCaller> _entries = new();

    // Requests on one connection share one certificate object: find its caller without hashing the certificate again.
    private readonly ConditionalWeakTable<X509Certificate2, AgentCaller> _byConnectionCertificate = new();

    public int Count => _entries.Count;

    /// <summary>Looks the certificate up, first by object (same connection), then by SHA-256 (same certificate, new connection).</summary>
    public bool TryGet(X509Certificate2 certificate, Span<byte> hash, DateTimeOffset now, TimeSpan skew, ITrustBundleSource bundles, out AgentCaller? caller, out bool hashed)
    {
        hashed = false;
        if (_byConnectionCertificate.TryGetValue(certificate, out caller))
        {
            if (IsUsable(caller, now, skew, bundles))
            {
                return true;
            }

            _byConnectionCertificate.Remove(certificate);
        }

        hashed = certificate.TryGetCertHash(HashAlgorithmName.SHA256, hash, out var written) && written == 32;
        if (hashed && TryGet(hash, now, skew, bundles, out caller))
        {
            _byConnectionCertificate.AddOrUpdate(certificate, caller!);
            return true;
        }

        caller = null;
        return false;
    }

    public void Remember(X509Certificate2 certificate, AgentCaller caller) => _byConnectionCertificate.AddOrUpdate(certificate, caller);

    private static bool IsUsable(AgentCaller caller, DateTimeOffset now, TimeSpan skew, ITrustBundleSource bundles) =>
        now - skew <= caller.NotAfter && now + skew >= caller.NotBefore &&
        bundles.TryGetBundle(caller.TrustDomain, out var bundle) && ReferenceEquals(bundle, caller.Bundle);

    public bool TryGet(ReadOnlySpan<byte> hash, DateTimeOffset now, TimeSpan skew, ITrustBundleSource bundles, out AgentCaller? caller)
    {
        var key = new Sha256Key(hash);
        if (!_entries.TryGetValue(key, out caller))
        {
            return false;
        }

        if (!IsUsable(caller, now, skew, bundles))
        {
            _entries.TryRemove(key, out _);
            caller = null;
            return false;
        }

        return true;
    }

    public void Add(AgentCaller caller, DateTimeOffset now)
    {
        if (capacity == 0)
        {
            return;
        }

        if (_entries.Count >= capacity)
        {
            Evict(now);
        }

        _entries[new Sha256Key(caller.GetCertificateHash())] = caller;
    }

    private void Evict(DateTimeOffset now)
    {
        foreach (var entry in _entries)
        {
            if (entry.Value.NotAfter < now)
            {
                _entries.TryRemove(entry.Key, out _);
            }
        }

        // Still full: drop entries (arbitrary order) until a tenth of the capacity is free; they are re-validated on next use.
        var target = capacity - Math.Max(1, capacity / 10);
        foreach (var entry in _entries)
        {
            if (_entries.Count <= target)
            {
                break;
            }

            _entries.TryRemove(entry.Key, out _);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct Sha256Key : IEquatable<Sha256Key>
    {
        private readonly ulong _a;
        private readonly ulong _b;
        private readonly ulong _c;
        private readonly ulong _d;

        public Sha256Key(ReadOnlySpan<byte> hash)
        {
            var words = MemoryMarshal.Cast<byte, ulong>(hash[..32]);
            _a = words[0];
            _b = words[1];
            _c = words[2];
            _d = words[3];
        }

        public bool Equals(Sha256Key other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

        public override bool Equals(object? obj) => obj is Sha256Key other && Equals(other);

        public override int GetHashCode() => (int)_a ^ (int)(_a >> 32);
    }
}
