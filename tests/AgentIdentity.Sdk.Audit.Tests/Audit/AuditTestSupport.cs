using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Audit;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Tests.Audit;

/// <summary>The test PKI's development CA, an agent SVID and a temp directory for audit-log tests.</summary>
internal sealed class AuditFixture : IDisposable
{
    public static readonly TrustDomain Domain = TrustDomain.Parse("example.org");

    private readonly TestPki _pki;

    public AuditFixture(string agentName = "planner", DateTimeOffset? start = null)
    {
        Time = new FakeTimeProvider(start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        _pki = new TestPki(Domain.Name, Time);
        Svid = IssueSvid(SpiffeId.ForAgent(Domain, agentName, "i-1"));
        Directory = Path.Combine(Path.GetTempPath(), "agentid-audit-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public FakeTimeProvider Time { get; }

    public DevelopmentCertificateAuthority Ca => _pki.Ca;

    public X509Svid Svid { get; }

    public string Directory { get; }

    public AuditLogOptions Options(Action<AuditLogOptions>? configure = null)
    {
        var options = new AuditLogOptions { Directory = Directory, CheckpointEveryEntries = 10 };
        configure?.Invoke(options);
        return options;
    }

    public AuditLog Open(Action<AuditLogOptions>? configure = null, IX509SvidSource? signer = null) =>
        AuditLog.Open(Options(configure), signer ?? Svid, Time);

    public AuditEvent Event(int i) => new()
    {
        Kind = AuditEventKind.ToolCall,
        Timestamp = Time.GetUtcNow(),
        Agent = Svid.Id,
        SerialNumber = Svid.SerialNumber,
        Tool = "Erp.GetInvoice",
        Action = "invoices:read",
        TargetService = "spiffe://example.org/svc/erp",
        RequestId = $"call-{i}",
        Arguments = [AuditArgument.Create("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
    };

    public AuditLogVerificationResult Verify(Action<AuditLogVerificationOptions>? configure = null)
    {
        var options = new AuditLogVerificationOptions { TrustBundles = Ca };
        configure?.Invoke(options);
        return AuditLogVerifier.Verify(Directory, options);
    }

    /// <summary>Reads the published checkpoint: the signed note in <c>checkpoint</c>, its certificates in <c>checkpoint.pem</c>.</summary>
    public static SignedCheckpoint ReadPublished(string directory) =>
        SignedCheckpoint.Parse(File.ReadAllText(Path.Combine(directory, "checkpoint")), File.ReadAllText(Path.Combine(directory, "checkpoint.pem")));

    public string Segment(int number = 1) => Path.Combine(Directory, $"audit-{number:D8}.log");

    /// <summary>Issues an SVID from the fixture's CA; the fixture owns it and releases it when disposed.</summary>
    public X509Svid IssueSvid(SpiffeId id, TimeSpan? lifetime = null) => _pki.IssueSvid(id.ToString(), lifetime);

    /// <summary>Reads the records of a segment as (offset, length, type, index) from the raw bytes.</summary>
    public static List<(int Offset, int Length, byte Type, long Index)> Records(byte[] segment)
    {
        var list = new List<(int, int, byte, long)>();
        var offset = 8;
        while (offset + 13 <= segment.Length)
        {
            var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(segment.AsSpan(offset));
            var index = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(segment.AsSpan(offset + 4));
            var total = 13 + length + 32;
            if (offset + total > segment.Length)
            {
                break;
            }

            list.Add((offset, total, segment[offset + 12], index));
            offset += total;
        }

        return list;
    }

    public void Dispose()
    {
        _pki.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    /// <summary>A PKCS#10 request for <paramref name="id"/> (its URI SAN) over the request's key, built with public APIs only.</summary>
    public static byte[] CreateSigningRequest(SpiffeId id, CertificateRequest request)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(id.ToString()));
        request.CertificateExtensions.Add(san.Build(critical: true));
        return request.CreateSigningRequest();
    }
}
