using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>An agent whose certificates are self-signed (no CA): the RFC 8705 §2.2 self_signed_tls_client_auth case. Each certificate is an
/// X.509-SVID leaf (SPIFFE URI SAN, empty subject, digitalSignature, serverAuth + clientAuth) signed with its own key, valid for an hour of the fake clock,
/// and carries an Authority Key Identifier (its own key identifier) so that a verifier holding several of them picks the right one.</summary>
internal sealed class SelfSignedSvidSource : IX509SvidSource, IDisposable
{
    public const string DefaultId = "spiffe://example.org/agent/planner/self";

    private readonly TimeProvider _time;
    private readonly string _id;
    private readonly List<X509SvidOwner> _all = [];
    private X509SvidOwner _current;

    public SelfSignedSvidSource(TimeProvider time, string id = DefaultId)
    {
        _time = time;
        _id = id;
        _current = Create();
    }

    public X509Svid GetCurrent() => Volatile.Read(ref _current).Svid;

    /// <summary>Publishes a new self-signed certificate (new key) and marks the previous one superseded.</summary>
    public X509Svid Rotate()
    {
        var next = Create();
        var previous = Interlocked.Exchange(ref _current, next);
        previous.MarkSuperseded();
        return next.Svid;
    }

    private X509SvidOwner Create()
    {
        var svid = new X509SvidOwner(CreateCertificate(_time, _id));
        lock (_all)
        {
            _all.Add(svid);
        }

        return svid;
    }

    /// <summary>Creates a self-signed certificate (with its key) valid for an hour of <paramref name="time"/>.</summary>
    public static X509Certificate2 CreateCertificate(TimeProvider time, string id = DefaultId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(string.Empty, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(SpiffeId.Parse(id).ToUri());
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        var subjectKeyId = new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false);
        request.CertificateExtensions.Add(subjectKeyId);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(subjectKeyId));
        var now = time.GetUtcNow();
        return request.CreateSelfSigned(now.AddMinutes(-1), now.AddHours(1));
    }

    public void Dispose()
    {
        lock (_all)
        {
            foreach (var svid in _all)
            {
                svid.Dispose();
            }
        }
    }
}
