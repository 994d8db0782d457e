extern alias core;

using System.Security.Cryptography;
using AgentIdentity;
using BenchmarkDotNet.Attributes;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// SVID issuance by the development CA (key generation + CSR + CA parse/verify + sign) against the raw primitives it cannot avoid:
/// P-256 key generation + sign (the CSR) + verify (the CA checks the CSR) + sign (the certificate). Target: issuance at least 0.6 × the bound's throughput.
/// </summary>
[MemoryDiagnoser]
public class SvidIssuanceBenchmarks
{
    private static readonly byte[] Payload = new byte[300]; // about the size of a CSR's and a certificate's to-be-signed part
    private readonly SpiffeId _id = SpiffeId.Parse("spiffe://bench.example/agent/planner/abc");
    private DevelopmentCertificateAuthority _ca = null!;
    private ECDsa _caKey = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ca.Dispose();
        _caKey.Dispose();
    }

    [Benchmark(Baseline = true, Description = "bound: keygen+sign+verify+sign")]
    public byte[] PrimitivesBound()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csrSignature = key.SignData(Payload, HashAlgorithmName.SHA256);
        if (!key.VerifyData(Payload, csrSignature, HashAlgorithmName.SHA256))
        {
            throw new InvalidOperationException();
        }

        return _caKey.SignData(Payload, HashAlgorithmName.SHA256);
    }

    [Benchmark(Description = "dev CA: keygen+CSR+parse/verify+sign")]
    public X509SvidIssuance DevelopmentCaIssuance()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = SvidKeys.CreateSigningRequest(_id, key);
        var issuance = _ca.Issue(new X509SvidRequest(_id, csr, TimeSpan.FromHours(1)));
        issuance.Certificate.Dispose();
        return issuance;
    }
}

/// <summary>Where the time of one issuance goes: each step of <see cref="SvidIssuanceBenchmarks.DevelopmentCaIssuance"/> alone.</summary>
[MemoryDiagnoser]
public class SvidIssuanceStepBenchmarks
{
    private readonly SpiffeId _id = SpiffeId.Parse("spiffe://bench.example/agent/planner/abc");
    private DevelopmentCertificateAuthority _ca = null!;
    private ECDsa _key = null!;
    private byte[] _csr = null!;
    private byte[] _certificate = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("bench.example"));
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _csr = SvidKeys.CreateSigningRequest(_id, _key);
        _certificate = _ca.Issue(new X509SvidRequest(_id, _csr, TimeSpan.FromHours(1))).Certificate.RawData;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ca.Dispose();
        _key.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int KeyGeneration()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.KeySize;
    }

    [Benchmark]
    public byte[] CreateCsr() => SvidKeys.CreateSigningRequest(_id, _key);

    [Benchmark]
    public bool ReadAndVerifyCsr() => core::AgentIdentity.Pkcs10.Read(_csr, _id).IsRsa;

    [Benchmark]
    public X509SvidIssuance IssueFromCsr()
    {
        var issuance = _ca.Issue(new X509SvidRequest(_id, _csr, TimeSpan.FromHours(1)));
        issuance.Certificate.Dispose();
        return issuance;
    }

    [Benchmark]
    public int LoadCertificate()
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(_certificate);
        return certificate.Version;
    }
}
