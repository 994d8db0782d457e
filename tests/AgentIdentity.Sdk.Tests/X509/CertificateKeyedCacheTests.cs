using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.Tests.X509;

/// <summary>The one certificate-keyed cache behind <see cref="CertificatePolicyCache"/> and the ASP.NET Core caller cache.</summary>
public sealed class CertificateKeyedCacheTests
{
    [Fact]
    public void TryGetValue_SameDerInAnotherCertificateObject_FindsTheEntry()
    {
        using var certificate = CreateCertificate("CN=a");
        using var copy = X509CertificateLoader.LoadCertificate(certificate.RawData);
        var cache = new CertificateKeyedCache<string>(capacity: 10);

        cache.Set(certificate.RawDataMemory.Span, "a");

        Assert.True(cache.TryGetValue(copy.RawDataMemory.Span, out var value));
        Assert.Equal("a", value);
    }

    [Fact]
    public void TryGetValue_OtherCertificate_Misses()
    {
        using var a = CreateCertificate("CN=a");
        using var b = CreateCertificate("CN=a");
        var cache = new CertificateKeyedCache<string>(capacity: 10);

        cache.Set(a.RawDataMemory.Span, "a");

        Assert.False(cache.TryGetValue(b.RawDataMemory.Span, out _));
        Assert.False(cache.TryGetValue(a.RawData.AsSpan(0, a.RawData.Length - 1), out _));
    }

    [Fact]
    public void Set_KeyIsCopied_SoLaterChangesToTheBufferDoNotMoveTheEntry()
    {
        byte[] der = [1, 2, 3];
        var cache = new CertificateKeyedCache<string>(capacity: 10);
        cache.Set(der, "x");

        der[0] = 9;

        Assert.True(cache.TryGetValue([1, 2, 3], out _));
        Assert.False(cache.TryGetValue(der, out _));
    }

    [Fact]
    public void Set_WhenFull_DropsStaleEntriesFirst()
    {
        var cache = new CertificateKeyedCache<string>(capacity: 10);
        for (byte i = 0; i < 10; i++)
        {
            cache.Set([i], i % 2 == 0 ? "stale" : "fresh");
        }

        cache.Set([10], "new", isStale: value => value == "stale");

        // The five stale entries made room; no fresh one had to go.
        Assert.Equal(6, cache.Count);
        for (byte i = 0; i < 10; i++)
        {
            Assert.Equal(i % 2 == 1, cache.TryGetValue([i], out _));
        }

        Assert.True(cache.TryGetValue([10], out _));
    }

    [Fact]
    public void Set_BeyondCapacity_StaysBounded()
    {
        var cache = new CertificateKeyedCache<string>(capacity: 10);
        for (var i = 0; i < 100; i++)
        {
            cache.Set(BitConverter.GetBytes(i), "v");
            Assert.InRange(cache.Count, 1, 10);
        }

        Assert.True(cache.TryGetValue(BitConverter.GetBytes(99), out _));
    }

    [Fact]
    public void Set_CapacityZero_CachesNothing()
    {
        var cache = new CertificateKeyedCache<string>(capacity: 0);

        cache.Set([1], "v");

        Assert.Equal(0, cache.Count);
        Assert.False(cache.TryGetValue([1], out _));
    }

    [Fact]
    public void Remove_ForgetsTheCertificate()
    {
        var cache = new CertificateKeyedCache<string>(capacity: 10);
        cache.Set([1], "v");

        cache.Remove([1]);

        Assert.False(cache.TryGetValue([1], out _));
    }

    [Fact]
    public async Task SetAndGet_FromManyThreads_StayBoundedAndConsistent()
    {
        var cache = new CertificateKeyedCache<string>(capacity: 64);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var key = BitConverter.GetBytes(i % 200);
                cache.Set(key, (i % 200).ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (cache.TryGetValue(key, out var value))
                {
                    Assert.Equal((i % 200).ToString(System.Globalization.CultureInfo.InvariantCulture), value);
                }
            }
        })));

        // Concurrent insertions may each pass the capacity check before any of them lands: at most one extra per writer.
        Assert.InRange(cache.Count, 1, 64 + 4);
    }

    private static X509Certificate2 CreateCertificate(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var notBefore = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        return request.CreateSelfSigned(notBefore, notBefore.AddHours(1));
    }
}
