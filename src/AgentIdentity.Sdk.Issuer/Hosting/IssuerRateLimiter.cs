using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace AgentIdentity.Issuer;

/// <summary>
/// The issuer's rate limits, fixed windows on the issuer's <see cref="TimeProvider"/>:
/// <list type="bullet">
/// <item>per caller: the SPIFFE ID of a client certificate that validates against the issuer's own bundle, else the remote
/// address prefix (<see cref="AgentIdentityIssuerOptions.RateLimitIPv4PrefixLength"/>, <see cref="AgentIdentityIssuerOptions.RateLimitIPv6PrefixLength"/>).
/// A certificate the issuer did not sign is not an identity: a fresh self-signed certificate per connection shares its address's limit;</item>
/// <item>global: one limit shared by every request to the anonymous endpoints (enrollment, renewal after expiry, bundle, revocation feed, CRL, OCSP),
/// <see cref="AgentIdentityIssuerOptions.AnonymousRateLimitPermits"/>, so that many addresses together cannot exhaust the issuer.</item>
/// </list>
/// </summary>
/// <remarks>Per replica: each issuer replica counts its own requests.</remarks>
internal sealed class IssuerRateLimiter
{
    /// <summary>How many caller windows are kept before the ones of past windows are dropped.</summary>
    internal const int PruneThreshold = 10_000;

    private static readonly HashSet<string> Anonymous = new(StringComparer.Ordinal) { "issue", "renew-expired", "bundle", "feed", "feed/poll", "crl", "ocsp" };

    private readonly AgentIdentityIssuer _issuer;
    private readonly ConcurrentDictionary<string, Window> _callers = new(StringComparer.Ordinal);
    private readonly Window _anonymous = new();
    private long _prunedWindow = -1;

    public IssuerRateLimiter(AgentIdentityIssuer issuer) => _issuer = issuer;

    /// <summary>Gets how many caller windows are held (for tests of the pruning).</summary>
    internal int PartitionCount => _callers.Count;

    /// <summary>Whether <paramref name="endpoint"/> is one of the anonymous endpoints under the global limit.</summary>
    internal static bool IsAnonymous(string endpoint) => Anonymous.Contains(endpoint);

    /// <summary>Takes a permit for the caller of <paramref name="context"/> on <paramref name="endpoint"/>, and a global one for an anonymous endpoint.</summary>
    /// <returns><see langword="null"/> when acquired; otherwise the refusal.</returns>
    public RateLimitRefusal? TryAcquire(HttpContext context, string endpoint)
    {
        var options = _issuer.Options;
        var partition = PartitionKey(context);
        var now = _issuer.Time.GetUtcNow().UtcTicks;
        var windowTicks = options.RateLimitWindow.Ticks;
        var index = now / windowTicks;
        Prune(index);
        if (!_callers.GetOrAdd(partition, static _ => new Window()).TryTake(index, options.RateLimitPermits))
        {
            return new RateLimitRefusal(partition, Global: false, RetryAfter(now, index, windowTicks));
        }

        if (IsAnonymous(endpoint) && !_anonymous.TryTake(index, options.AnonymousRateLimitPermits))
        {
            return new RateLimitRefusal(partition, Global: true, RetryAfter(now, index, windowTicks));
        }

        return null;
    }

    /// <summary>The caller's partition: <c>id:&lt;SPIFFE ID&gt;</c> for a client certificate that is a valid SVID of this issuer,
    /// else <c>net:&lt;address prefix&gt;</c>.</summary>
    internal string PartitionKey(HttpContext context)
    {
        if (context.Connection.ClientCertificate is { } certificate)
        {
            var state = _issuer.State;
            var result = X509SvidValidator.Validate(certificate, state.Intermediates, state.Bundle, _issuer.Time.GetUtcNow());
            if (result.IsValid)
            {
                return "id:" + result.Id.ToString();
            }
        }

        return "net:" + AddressPrefix(context.Connection.RemoteIpAddress, _issuer.Options.RateLimitIPv4PrefixLength, _issuer.Options.RateLimitIPv6PrefixLength);
    }

    /// <summary>The network prefix of an address, in CIDR notation (<c>192.0.2.0/24</c>, <c>2001:db8::/64</c>); an IPv4-mapped IPv6 address counts as IPv4.</summary>
    internal static string AddressPrefix(IPAddress? address, int ipv4PrefixLength, int ipv6PrefixLength)
    {
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var prefix = address.AddressFamily == AddressFamily.InterNetwork ? ipv4PrefixLength : ipv6PrefixLength;
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes).ToString() + "/" + prefix.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static TimeSpan RetryAfter(long now, long index, long windowTicks) => TimeSpan.FromTicks(((index + 1) * windowTicks) - now);

    /// <summary>Bounds the memory a flood of addresses can take: once per window, when many callers are held, drops the windows that ended.</summary>
    private void Prune(long index)
    {
        var pruned = Volatile.Read(ref _prunedWindow);
        if (_callers.Count <= PruneThreshold || pruned >= index || Interlocked.CompareExchange(ref _prunedWindow, index, pruned) != pruned)
        {
            return;
        }

        foreach (var (key, window) in _callers)
        {
            if (window.EndedBefore(index))
            {
                _callers.TryRemove(key, out _);
            }
        }
    }

    private sealed class Window
    {
        private readonly Lock _lock = new();
        private long _index = -1;
        private int _count;

        public bool TryTake(long index, int permits)
        {
            lock (_lock)
            {
                if (_index != index)
                {
                    _index = index;
                    _count = 0;
                }

                if (_count >= permits)
                {
                    return false;
                }

                _count++;
                return true;
            }
        }

        public bool EndedBefore(long index)
        {
            lock (_lock)
            {
                return _index < index;
            }
        }
    }
}

/// <summary>A refused request: the caller's partition, whether the global anonymous limit refused it, and when to retry.</summary>
internal sealed record RateLimitRefusal(string Partition, bool Global, TimeSpan RetryAfter);
