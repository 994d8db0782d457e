using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace AgentIdentity;

/// <summary>
/// The one certificate-keyed cache: a bounded, thread-safe map from a certificate to what was derived from it (a decoded policy,
/// a validated caller). Entries are keyed by the certificate's DER bytes, hashed with a per-process random seed and then
/// compared in full, so two certificates never share an entry and no thumbprint is computed per lookup.
/// </summary>
/// <remarks>When it is full, an insertion first drops the entries the caller calls stale, then arbitrary entries until a tenth
/// of the capacity is free; dropped entries are rebuilt on next use. A capacity of zero caches nothing.</remarks>
/// <typeparam name="TValue">What is cached per certificate.</typeparam>
internal sealed class CertificateKeyedCache<TValue>
    where TValue : class
{
    private readonly ConcurrentDictionary<byte[], TValue> _entries = new(RawDataComparer.Instance);
    private readonly int _capacity;

    public CertificateKeyedCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
    }

    public int Count => _entries.Count;

    /// <summary>Looks a certificate up by its DER bytes.</summary>
    public bool TryGetValue(ReadOnlySpan<byte> rawData, [NotNullWhen(true)] out TValue? value) =>
        _entries.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(rawData, out value);

    /// <summary>Forgets a certificate.</summary>
    public void Remove(ReadOnlySpan<byte> rawData) => _entries.GetAlternateLookup<ReadOnlySpan<byte>>().TryRemove(rawData, out _);

    /// <summary>Remembers <paramref name="value"/> for a certificate, making room first when the cache is full.</summary>
    /// <param name="rawData">The certificate's DER bytes (copied).</param>
    /// <param name="value">The value.</param>
    /// <param name="isStale">Which entries to drop first when the cache is full (expired ones); <see langword="null"/> for none.</param>
    public void Set(ReadOnlySpan<byte> rawData, TValue value, Func<TValue, bool>? isStale = null)
    {
        if (_capacity == 0)
        {
            return;
        }

        if (_entries.Count >= _capacity)
        {
            Evict(isStale);
        }

        _entries.GetAlternateLookup<ReadOnlySpan<byte>>()[rawData] = value;
    }

    private void Evict(Func<TValue, bool>? isStale)
    {
        if (isStale is not null)
        {
            foreach (var entry in _entries)
            {
                if (isStale(entry.Value))
                {
                    _entries.TryRemove(entry.Key, out _);
                }
            }
        }

        // Still full: drop entries (arbitrary order) until a tenth of the capacity is free.
        var target = _capacity - Math.Max(1, _capacity / 10);
        foreach (var entry in _entries)
        {
            if (_entries.Count <= target)
            {
                break;
            }

            _entries.TryRemove(entry.Key, out _);
        }
    }

    private sealed class RawDataComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly RawDataComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> data)
        {
            var hash = default(HashCode); // randomly seeded per process
            hash.AddBytes(data);
            return hash.ToHashCode();
        }
    }
}
