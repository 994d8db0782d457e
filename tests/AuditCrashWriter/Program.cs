using AgentIdentity;
using AgentIdentity.Audit;

// Usage: AuditCrashWriter <directory> <flush-mode>
// Creates a development CA, writes its bundle to <directory>/bundle.json, then appends audit events in a tight loop.
// After the checkpoint at 1 000 entries it prints "WRITING <published size>" and keeps appending until the test kills it.
var directory = args[0];
var mode = Enum.Parse<AuditFlushMode>(args[1]);
var domain = TrustDomain.Parse("example.org");
using var ca = DevelopmentCertificateAuthority.Create(domain);
await using var credential = await AgentCredential.CreateAsync(SpiffeId.ForAgent(domain, "planner", "crash-writer"), ca);
Directory.CreateDirectory(directory);
File.WriteAllText(Path.Combine(directory, "bundle.json"), ca.Bundle.ToJsonString());

var log = AuditLog.Open(new AuditLogOptions { Directory = directory, FlushMode = mode, CheckpointEveryEntries = 200, MaxSegmentBytes = 256 * 1024 }, credential);
var signalled = false;
var started = System.Diagnostics.Stopwatch.StartNew();
for (long i = 0; started.Elapsed < TimeSpan.FromSeconds(60); i++) // A safety net: the test kills it long before.
{
    log.Append(new AuditEvent
    {
        Kind = AuditEventKind.ToolCall,
        Timestamp = TimeProvider.System.GetUtcNow(),
        Agent = credential.Id,
        Tool = "Erp.GetInvoice",
        RequestId = "call-" + i,
        Reason = new string('x', (int)(i % 97)),
        Arguments = [AuditArgument.Create("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
    });

    if (!signalled && log.LatestCheckpoint is { } checkpoint && checkpoint.Checkpoint.TreeSize >= 1000)
    {
        signalled = true;
        Console.Out.WriteLine("WRITING " + checkpoint.Checkpoint.TreeSize);
        Console.Out.Flush();
    }
}
