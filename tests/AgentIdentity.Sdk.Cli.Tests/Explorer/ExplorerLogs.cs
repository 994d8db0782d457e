using System.Buffers.Binary;
using AgentIdentity.Audit;
using Microsoft.Extensions.Time.Testing;

namespace AgentIdentity.Cli.Tests.Explorer;

/// <summary>
/// Real audit logs for the explorer tests, written with the real <see cref="AuditLog"/> under a fake clock: a planner agent whose
/// tool calls are allowed and denied (one tool name is an HTML injection attempt), its task identity's log (delegated from the
/// planner, each entry carrying the chain), and a mailer agent's log with entry 7 tampered with (one byte flipped).
/// </summary>
public sealed class ExplorerLogs : IAsyncLifetime
{
    public const string HostileTool = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
    public const string HostileReason = "<b>not</b> in policy";
    public const long TamperedIndex = 7;

    private static readonly TrustDomain Domain = TrustDomain.Parse("example.org");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero));

    public string Root { get; } = Directory.CreateTempSubdirectory("agentid-explorer-").FullName;

    public DevelopmentCertificateAuthority Ca { get; private set; } = null!;

    public AgentCredential Planner { get; private set; } = null!;

    public AgentCredential TaskCredential { get; private set; } = null!;

    public string PlannerLog => Path.Combine(Root, "agents", "planner");

    public string TaskLog => Path.Combine(Root, "agents", "planner-task-t7");

    public string TamperedLog => Path.Combine(Root, "agents", "mailer");

    public TrustBundle Bundle => Ca.Bundle;

    public async Task InitializeAsync()
    {
        Ca = DevelopmentCertificateAuthority.Create(Domain, null, _time);
        var plannerPolicy = new AgentPolicy(actions: ["invoices:*"], tools: ["Erp.*"], maxDelegationDepth: 1, delegationTargets: ["spiffe://example.org/agent/planner/*"]);
        Planner = await AgentCredential.CreateAsync(SpiffeId.ForAgent(Domain, "planner", "i-1"), Ca, new AgentCredentialOptions { Policy = plannerPolicy }, _time);
        TaskCredential = await Planner.DelegateAsync("t7", new AgentPolicy(actions: ["invoices:read"], tools: ["Erp.GetInvoice"]));
        await using var mailer = await AgentCredential.CreateAsync(SpiffeId.ForAgent(Domain, "mailer", "i-2"), Ca, null, _time);

        using (var log = Open(PlannerLog, Planner, 4))
        {
            Call(log, Planner, "Erp.GetInvoice", AuditOutcome.Success);
            Call(log, Planner, "Erp.DeleteInvoice", AuditOutcome.Denied, "tool not in policy");
            Call(log, Planner, HostileTool, AuditOutcome.Denied, HostileReason);
            Call(log, Planner, "Erp.ListInvoices", AuditOutcome.Failure, "erp returned 503");
            Call(log, Planner, "Erp.GetInvoice", AuditOutcome.Success);
        }

        using (var log = Open(TaskLog, TaskCredential, 3))
        {
            Call(log, TaskCredential, "Erp.GetInvoice", AuditOutcome.Success, chain: [Planner.Id]);
            Call(log, TaskCredential, "Erp.DeleteInvoice", AuditOutcome.Denied, "tool not in the task's policy", [Planner.Id]);
            Call(log, TaskCredential, "Erp.GetInvoice", AuditOutcome.Success, chain: [Planner.Id]);
        }

        using (var log = Open(TamperedLog, mailer, 5))
        {
            for (var i = 0; i < 12; i++)
            {
                Call(log, mailer, "Mail.Send", i % 4 == 3 ? AuditOutcome.Denied : AuditOutcome.Success, i % 4 == 3 ? "recipient outside the trust domain" : null);
            }
        }

        FlipByte(Path.Combine(TamperedLog, "audit-00000001.log"), TamperedIndex);
    }

    private AuditLog Open(string directory, AgentCredential signer, int every) =>
        AuditLog.Open(new AuditLogOptions { Directory = directory, CheckpointEveryEntries = every }, signer, _time);

    private void Call(AuditLog log, AgentCredential who, string tool, AuditOutcome outcome, string? reason = null, SpiffeId[]? chain = null)
    {
        _time.Advance(TimeSpan.FromSeconds(7));
        log.Append(new AuditEvent
        {
            Kind = AuditEventKind.ToolCall,
            Timestamp = _time.GetUtcNow(),
            Agent = who.Id,
            SerialNumber = who.GetCurrent().SerialNumber,
            DelegationChain = chain ?? [],
            Tool = tool,
            Outcome = outcome,
            Reason = reason,
            RequestId = $"call-{log.TreeSize}",
            Arguments = [AuditArgument.Create("invoiceId", "INV-42")],
        });
    }

    /// <summary>Flips one byte inside the payload of event <paramref name="index"/>, leaving its stored checksum as it was.</summary>
    private static void FlipByte(string segment, long index)
    {
        var bytes = File.ReadAllBytes(segment);
        var offset = 8;
        while (true)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset));
            if (BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(offset + 4)) == index && bytes[offset + 12] == 0)
            {
                // Inside "Mail.Send": the entry still parses, but reads "Mail.Seng".
                var payload = bytes.AsSpan(offset + 13, length);
                var at = payload.IndexOf("Mail.Send"u8);
                payload[at + 8] ^= 0x03;
                File.WriteAllBytes(segment, bytes);
                return;
            }

            offset += 13 + length + 32;
        }
    }

    public async Task DisposeAsync()
    {
        await TaskCredential.DisposeAsync();
        await Planner.DisposeAsync();
        Ca.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}
