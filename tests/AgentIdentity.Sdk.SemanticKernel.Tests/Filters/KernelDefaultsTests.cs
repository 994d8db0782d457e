using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.SemanticKernel;

namespace AgentIdentity.SemanticKernel.Tests.Filters;

/// <summary>The first-hour paths of docs/semantic-kernel.md with a real <see cref="Kernel"/>: no default that loses the audit
/// trail, and the several-agents pattern (one unbound shared kernel, one bound clone per agent).</summary>
public sealed class KernelDefaultsTests : IAsyncLifetime
{
    private readonly TestAgents _agents = new();
    private readonly ErpPlugin _erp = new();
    private AgentCredential _planner = null!;

    public async Task InitializeAsync() => _planner = await _agents.CreateAsync("planner");

    public async Task DisposeAsync() => await _agents.DisposeAsync();

    [Fact]
    public void AddAgentIdentityFilters_KernelWithoutSinkOrLogging_RefusesToBuild()
    {
        var kb = Kernel.CreateBuilder();
        kb.Plugins.AddFromObject(_erp, "Erp");
        kb.AddAgentIdentityFilters(_planner);

        var ex = Assert.Throws<InvalidOperationException>(() => kb.Build());

        Assert.Contains("nowhere to write its audit trail", ex.Message, StringComparison.Ordinal);
        Assert.Contains("o.AuditSink", ex.Message, StringComparison.Ordinal);
        Assert.Contains("AddLogging", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAgentIdentityFilters_LoggingThatRecordsNoAuditEvents_RefusesToBuild()
    {
        var kb = Kernel.CreateBuilder();
        kb.Services.AddLogging(l => l.AddFilter("AgentIdentity.Audit", LogLevel.Warning).AddProvider(new FakeLoggerProvider()));
        kb.AddAgentIdentityFilters(_planner);

        var ex = Assert.Throws<InvalidOperationException>(() => kb.Build());

        Assert.Contains("nowhere to write its audit trail", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentityFilters_KernelWithLogging_AuditsEachCallToTheLogger()
    {
        var collector = new FakeLogCollector();
        var kb = Kernel.CreateBuilder();
        kb.Services.AddLogging(l => l.AddProvider(new FakeLoggerProvider(collector)));
        kb.Plugins.AddFromObject(_erp, "Erp");
        kb.AddAgentIdentityFilters(_planner);
        var kernel = kb.Build();

        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        var record = Assert.Single(collector.GetSnapshot(), r => r.Category == "AgentIdentity.Audit");
        Assert.Contains("Erp.GetInvoice", record.Message, StringComparison.Ordinal);
        Assert.Contains(_planner.Id.ToString(), record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentityFilters_ApplicationsAuditSink_RecordsEachCall()
    {
        var appSink = new InMemoryAuditSink();
        var kb = Kernel.CreateBuilder();
        kb.Plugins.AddFromObject(_erp, "Erp");
        kb.AddAgentIdentityFilters(_planner, o => o.AuditSink = appSink);
        var kernel = kb.Build();

        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Equal(_planner.Id, TestAgents.Single(appSink, "Erp.GetInvoice").Agent);
    }

    [Fact]
    public async Task SeveralAgents_OneUnboundSharedKernelAndOneBoundClonePerAgent_EachCallIsTheRightAgents()
    {
        var researcher = await _agents.CreateAsync("researcher", new AgentPolicy(tools: ["Clock.*"]));
        var audit = new InMemoryAuditSink();
        var shared = Kernel.CreateBuilder();
        shared.Plugins.AddFromObject(_erp, "Erp");
        var kernel = shared.Build();

        var plannerKernel = kernel.Clone();
        plannerKernel.UseAgentIdentity(_planner, o => o.AuditSink = audit);
        var researcherKernel = kernel.Clone();
        researcherKernel.UseAgentIdentity(researcher, o => o.AuditSink = audit);

        await plannerKernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "1" });
        var denied = await researcherKernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Equal(_planner.Id, Assert.Single(_erp.Seen)!.AgentId);
        Assert.Contains("Tool call denied", denied.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal([_planner.Id, researcher.Id], audit.Events.Select(e => e.Agent));
        Assert.Empty(kernel.FunctionInvocationFilters);
    }

    [Fact]
    public async Task UseAgentIdentity_CloneOfABoundKernel_ThrowsAndNamesTheWayThatWorks()
    {
        var other = await _agents.CreateAsync("other");
        var kb = Kernel.CreateBuilder();
        kb.Plugins.AddFromObject(_erp, "Erp");
        kb.AddAgentIdentityFilters(_planner, o => o.AuditSink = new InMemoryAuditSink());
        var bound = kb.Build();

        var ex = Assert.Throws<InvalidOperationException>(() => bound.Clone().UseAgentIdentity(other));

        Assert.Contains("A clone of a bound kernel keeps its binding", ex.Message, StringComparison.Ordinal);
        Assert.Contains("without AddAgentIdentityFilters", ex.Message, StringComparison.Ordinal);
    }
}
