using System.Security.Cryptography;
using AgentIdentity;
using AgentIdentity.Audit;
using BenchmarkDotNet.Attributes;

namespace AgentIdentity.Benchmarks;

// Audit log throughput. Each invocation handles 1 000 events (OperationsPerInvoke), so the reported mean is per event.
//   dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*AuditAppend*'
[MemoryDiagnoser]
public class AuditAppendBenchmark
{
    private const int Events = 1000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-bench-" + Guid.NewGuid().ToString("N"));
    private DevelopmentCertificateAuthority _ca = null!;
    private AgentCredential _credential = null!;
    private AuditEvent[] _events = null!;
    private byte[][] _canonical = null!;
    private AuditLog _log = null!;

    [Params(AuditFlushMode.Never, AuditFlushMode.OnCheckpoint)]
    public AuditFlushMode FlushMode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var domain = TrustDomain.Parse("example.org");
        _ca = DevelopmentCertificateAuthority.Create(domain);
        _credential = AgentCredential.CreateAsync(SpiffeId.ForAgent(domain, "planner", "bench"), _ca).GetAwaiter().GetResult();
        var svid = _credential.GetCurrent();
        _events = [.. Enumerable.Range(0, Events).Select(i => new AuditEvent
        {
            Kind = AuditEventKind.ToolCall,
            Timestamp = TimeProvider.System.GetUtcNow(),
            Agent = svid.Id,
            SerialNumber = svid.SerialNumber,
            Tool = "Erp.GetInvoice",
            Action = "invoices:read",
            TargetService = "spiffe://example.org/svc/erp",
            RequestId = "call_" + i,
            Arguments = [AuditArgument.Create("invoiceId", "INV-" + i)],
        })];
        _canonical = [.. _events.Select(e => e.ToCanonicalJson())];
        _log = AuditLog.Open(new AuditLogOptions { Directory = _directory, FlushMode = FlushMode }, _credential);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log.Dispose();
        _credential.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _ca.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Raw SHA-256 leaf hashing of the same events' canonical bytes: the reference the log is measured against.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Events)]
    public byte LeafHashOnly()
    {
        Span<byte> hash = stackalloc byte[32];
        byte x = 0;
        foreach (var leaf in _canonical)
        {
            MerkleTree.HashLeaf(leaf, hash);
            x ^= hash[0];
        }

        return x;
    }

    /// <summary>RFC 8785 serialization plus leaf hash, no storage.</summary>
    [Benchmark(OperationsPerInvoke = Events)]
    public byte SerializeAndHash()
    {
        byte x = 0;
        foreach (var e in _events)
        {
            x ^= MerkleTree.HashLeaf(e.ToCanonicalJson())[0];
        }

        return x;
    }

    /// <summary>Full append: serialize, hash, write the record, update the tree; a signed checkpoint every 1 000 events (fsync per <see cref="FlushMode"/>).</summary>
    [Benchmark(OperationsPerInvoke = Events)]
    public long Append()
    {
        long index = 0;
        foreach (var e in _events)
        {
            index = _log.Append(e);
        }

        return index;
    }
}

// Proof generation and verification over a 65 536-entry tree.
//   dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*MerkleProof*'
[MemoryDiagnoser]
public class MerkleProofBenchmark
{
    private const int Size = 65536;
    private List<byte[]> _leaves = null!;
    private byte[] _root = null!;
    private IReadOnlyList<byte[]> _inclusion = null!;
    private IReadOnlyList<byte[]> _consistency = null!;
    private byte[] _oldRoot = null!;

    [GlobalSetup]
    public void Setup()
    {
        _leaves = [.. Enumerable.Range(0, Size).Select(_ => RandomNumberGenerator.GetBytes(32))];
        _root = MerkleTree.ComputeRoot(_leaves, Size);
        _oldRoot = MerkleTree.ComputeRoot(_leaves, 40000);
        _inclusion = MerkleTree.CreateInclusionProof(_leaves, 12345, Size);
        _consistency = MerkleTree.CreateConsistencyProof(_leaves, 40000, Size);
    }

    [Benchmark(Baseline = true)]
    public bool VerifyInclusion() => MerkleTree.VerifyInclusion(12345, Size, _leaves[12345], _inclusion, _root);

    [Benchmark]
    public bool VerifyConsistency() => MerkleTree.VerifyConsistency(40000, Size, _consistency, _oldRoot, _root);

    [Benchmark]
    public int CreateInclusionProof() => MerkleTree.CreateInclusionProof(_leaves, 12345, Size).Count;

    [Benchmark]
    public int CreateConsistencyProof() => MerkleTree.CreateConsistencyProof(_leaves, 40000, Size).Count;
}

// Offline verification of a 1 000 000-entry log (target: under 10 s).
//   dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*AuditVerify*' --job short
public class AuditVerifyBenchmark
{
    private const int Entries = 1_000_000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "agentid-bench-verify-" + Guid.NewGuid().ToString("N"));

    [GlobalSetup]
    public void Setup()
    {
        var domain = TrustDomain.Parse("example.org");
        using var ca = DevelopmentCertificateAuthority.Create(domain);
        var credential = AgentCredential.CreateAsync(SpiffeId.ForAgent(domain, "planner", "bench"), ca).GetAwaiter().GetResult();
        using var release = new Holder(credential);
        var svid = credential.GetCurrent();
        using var log = AuditLog.Open(new AuditLogOptions { Directory = _directory, FlushMode = AuditFlushMode.Never }, credential);
        for (var i = 0; i < Entries; i++)
        {
            log.Append(new AuditEvent
            {
                Kind = AuditEventKind.ToolCall,
                Timestamp = TimeProvider.System.GetUtcNow(),
                Agent = svid.Id,
                SerialNumber = svid.SerialNumber,
                Tool = "Erp.GetInvoice",
                RequestId = "call_" + i,
                Arguments = [AuditArgument.Create("invoiceId", "INV-" + i)],
            });
        }
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(OperationsPerInvoke = Entries)]
    public long Verify()
    {
        var result = AuditLogVerifier.Verify(_directory);
        return result.IsValid ? result.TreeSize : throw new InvalidOperationException(result.Message);
    }

    private sealed class Holder(AgentCredential credential) : IDisposable
    {
        public void Dispose() => credential.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
