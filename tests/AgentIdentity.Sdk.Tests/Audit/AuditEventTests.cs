using System.Security.Cryptography;
using System.Text;
using AgentIdentity.Audit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace AgentIdentity.Tests.Audit;

public sealed class AuditEventTests
{
    private static readonly SpiffeId Agent = SpiffeId.Parse("spiffe://example.org/agent/planner/i-1");

    [Fact]
    public void ToCanonicalJson_FullEvent_IsCanonicalWithSortedMembers()
    {
        var e = new AuditEvent
        {
            Kind = AuditEventKind.ToolCall,
            Timestamp = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(1)).AddTicks(1234560),
            Agent = Agent,
            SerialNumber = "0A1B",
            DelegationChain = [SpiffeId.Parse("spiffe://example.org/user/alice"), SpiffeId.Parse("spiffe://example.org/agent/orchestrator/i-9")],
            Tool = "Erp.GetInvoice",
            Action = "invoices:read",
            TargetService = "spiffe://example.org/svc/erp",
            RequestId = "call_1",
            Outcome = AuditOutcome.Denied,
            Reason = "tool not in policy",
            Arguments = [AuditArgument.Create("z", "2"), AuditArgument.Create("id", "42", includeValue: true)],
            Attributes = new Dictionary<string, string> { ["trace_id"] = "abc", ["http.status"] = "403" },
        };

        var json = e.ToString();

        var sha42 = Convert.ToHexStringLower(SHA256.HashData("42"u8));
        var sha2 = Convert.ToHexStringLower(SHA256.HashData("2"u8));
        Assert.Equal(
            "{\"action\":\"invoices:read\",\"agent\":\"spiffe://example.org/agent/planner/i-1\"," +
            $"\"arguments\":{{\"id\":{{\"sha256\":\"{sha42}\",\"value\":\"42\"}},\"z\":{{\"sha256\":\"{sha2}\"}}}}," +
            "\"attributes\":{\"http.status\":\"403\",\"trace_id\":\"abc\"}," +
            "\"chain\":[\"spiffe://example.org/user/alice\",\"spiffe://example.org/agent/orchestrator/i-9\"]," +
            "\"kind\":\"tool_call\",\"outcome\":\"denied\",\"reason\":\"tool not in policy\",\"request_id\":\"call_1\",\"serial\":\"0A1B\"," +
            "\"target\":\"spiffe://example.org/svc/erp\",\"time\":\"2026-01-02T02:04:05.123456Z\",\"tool\":\"Erp.GetInvoice\",\"v\":1}",
            json);
        Assert.Equal(e.ToCanonicalJson(), CanonicalJson.Canonicalize(e.ToCanonicalJson()));
    }

    [Fact]
    public void ToCanonicalJson_MinimalEvent_OmitsAbsentMembers()
    {
        var e = new AuditEvent { Kind = AuditEventKind.Revocation, Timestamp = DateTimeOffset.UnixEpoch, Agent = Agent };

        Assert.Equal("{\"agent\":\"spiffe://example.org/agent/planner/i-1\",\"kind\":\"revocation\",\"outcome\":\"success\",\"time\":\"1970-01-01T00:00:00.000000Z\",\"v\":1}", e.ToString());
    }

    [Fact]
    public void AuditArgument_Create_HashesByDefaultAndKeepsRawOnlyWhenOptedIn()
    {
        var hashed = AuditArgument.Create("card", "4111 1111 1111 1111");
        var raw = AuditArgument.Create("card", "4111 1111 1111 1111", includeValue: true);

        Assert.Null(hashed.Value);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("4111 1111 1111 1111"))), hashed.Sha256);
        Assert.Equal("4111 1111 1111 1111", raw.Value);
        Assert.DoesNotContain("4111", new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = DateTimeOffset.UnixEpoch, Agent = Agent, Arguments = [hashed] }.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ToCanonicalJson_DuplicateArgumentNames_Throws()
    {
        var e = new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = DateTimeOffset.UnixEpoch, Agent = Agent, Arguments = [AuditArgument.Create("a", "1"), AuditArgument.Create("a", "2")] };

        var ex = Assert.Throws<ArgumentException>(() => e.ToCanonicalJson());
        Assert.Contains("Duplicate member name 'a'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToCanonicalJson_EmptyAgent_Throws()
    {
        var e = new AuditEvent { Kind = AuditEventKind.ToolCall, Timestamp = DateTimeOffset.UnixEpoch, Agent = default };

        var ex = Assert.Throws<InvalidOperationException>(() => e.ToCanonicalJson());
        Assert.Contains("SPIFFE ID of the agent", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoggingAuditSink_AppendAsync_LogsStructuredEventWithoutRawArguments()
    {
        var collector = new FakeLogCollector();
        var logger = new FakeLogger(collector);
        var sink = new LoggingAuditSink(logger);

        await sink.AppendAsync(new AuditEvent
        {
            Kind = AuditEventKind.OutboundRequest, Timestamp = DateTimeOffset.UnixEpoch, Agent = Agent, TargetService = "https://erp", Action = "GET /x",
            Arguments = [AuditArgument.Create("secret", "hunter2", includeValue: true)],
        });

        var record = Assert.Single(collector.GetSnapshot());
        Assert.Equal(7000, record.Id.Id);
        Assert.Equal(LogLevel.Information, record.Level);
        Assert.Contains("outbound_request", record.Message, StringComparison.Ordinal);
        Assert.Contains("https://erp", record.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompositeAuditSink_AppendAsync_WritesEverySinkInOrder()
    {
        var first = new InMemoryAuditSink();
        var second = new InMemoryAuditSink();
        var sink = new CompositeAuditSink(first, second);
        var e = new AuditEvent { Kind = AuditEventKind.Issuance, Timestamp = DateTimeOffset.UnixEpoch, Agent = Agent };

        await sink.AppendAsync(e);

        Assert.Same(e, Assert.Single(first.Events));
        Assert.Same(e, Assert.Single(second.Events));
    }
}
