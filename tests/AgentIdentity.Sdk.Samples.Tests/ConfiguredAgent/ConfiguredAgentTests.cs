using AgentIdentity.Samples.Tests.TestInfrastructure;
using Xunit.Abstractions;

namespace AgentIdentity.Samples.Tests.ConfiguredAgent;

/// <summary>The appsettings.json-driven host: with its own configuration it runs; with a broken one it stops at start with a message
/// that names the full configuration key (overrides come in as environment variables, as in a container).</summary>
public sealed class ConfiguredAgentTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _audit = Directory.CreateTempSubdirectory("configured-agent-audit-").FullName;

    [Fact]
    public async Task ConfiguredAgent_GoodConfiguration_RunsWithTheConfiguredAgentsAndPolicies()
    {
        var run = await RunAsync([]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"spiffe://configured\.example/agent/planner/[a-z0-9]+ valid until .*tools=\[Clock\.\*, Erp\.GetInvoice\]", run.Output);
        Assert.Matches(@"spiffe://configured\.example/agent/researcher/[a-z0-9]+ valid until .*tools=\[Clock\.\*\]", run.Output);
        Assert.Contains("planner Erp.GetInvoice: allowed", run.Output, StringComparison.Ordinal);
        Assert.Contains("researcher Erp.GetInvoice: denied (ToolNotAllowed)", run.Output, StringComparison.Ordinal);
        Assert.Contains("audit log configured.example/agent/planner/audit", run.Output, StringComparison.Ordinal);
        Assert.NotEmpty(Directory.EnumerateFiles(_audit));
    }

    public static TheoryData<string, string, string> BrokenConfigurations => new()
    {
        // A misspelt option.
        { "AgentIdentity__Agents__planner__Lifetme", "00:10:00", "Unknown configuration key 'AgentIdentity:Agents:planner:Lifetme'" },
        // A key that is not a policy member (the task id is set by DelegateAsync, never configured).
        { "AgentIdentity__Agents__planner__Policy__taskId", "t1", "Unknown configuration key 'AgentIdentity:Agents:planner:Policy:taskId'" },
        // An invalid SPIFFE ID: trust domains are lower case.
        { "HttpClients__erp__ServerId", "spiffe://Configured.Example/svc/erp", "(configuration key 'HttpClients:erp:ServerId')" },
        // A bad policy pattern: an empty tool segment.
        { "AgentIdentity__Agents__planner__Policy__tools__0", "Erp..GetInvoice", "Configuration key 'AgentIdentity:Agents:planner:Policy:tools:0': the tools pattern 'Erp..GetInvoice' is invalid" },
        // A bad SPIFFE pattern in a policy.
        { "AgentIdentity__Agents__planner__Policy__services__0", "spiffe://configured.example", "Configuration key 'AgentIdentity:Agents:planner:Policy:services:0'" },
        // A value that does not convert, and a value that breaks a rule.
        { "Audit__CheckpointEveryEntries", "many", "'many' at 'Audit:CheckpointEveryEntries'" },
        { "AgentIdentity__Agents__researcher__Lifetime", "30.00:00:00", "(configuration key 'AgentIdentity:Agents:researcher:Lifetime')" },
    };

    [Theory]
    [MemberData(nameof(BrokenConfigurations))]
    public async Task ConfiguredAgent_BrokenConfiguration_StopsAtStartNamingTheKey(string variable, string value, string expected)
    {
        var run = await RunAsync(new() { [variable] = value });

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("ConfiguredAgent: configuration error:", run.Error, StringComparison.Ordinal);
        Assert.Contains(expected, run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("valid until", run.Output, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_audit, recursive: true);

    private async Task<SampleRun> RunAsync(Dictionary<string, string> overrides)
    {
        var variables = new Dictionary<string, string>(overrides) { ["Audit__Directory"] = _audit };
        var run = await SampleProcess.RunAsync("ConfiguredAgentPath", variables, []);
        log.WriteLine(run.ToString());
        return run;
    }
}
