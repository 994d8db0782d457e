using System.Globalization;
using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;

namespace AgentIdentity.SemanticKernel.Tests.Filters;

/// <summary>End to end over real sockets: a Kernel's tool calls a Kestrel mTLS service with the agent's HttpClient.</summary>
public sealed class AttributionTests : IAsyncLifetime
{
    private readonly TestAgents _agents = new();
    private readonly InMemoryAuditSink _audit = new();
    private ErpService _erp = null!;

    public async Task InitializeAsync() => _erp = await ErpService.StartAsync(_agents);

    public async Task DisposeAsync()
    {
        await _erp.DisposeAsync();
        await _agents.DisposeAsync();
    }

    [Fact]
    public async Task AutoInvocation_ToolCallsMtlsService_ServiceSeesAgentCertificateAndToolCallId()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_abc", "Erp_GetInvoice", new() { ["id"] = 42 })),
            _ => ScriptedChatClient.Text("done"));
        var services = AgentServices("planner");
        services.AddAgentIdentityFilters();
        services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
        services.AddKernel();
        services.AddSingleton(sp => KernelPluginFactory.CreateFromObject(new ErpHttpPlugin(sp.GetRequiredService<IHttpClientFactory>().CreateClient("erp")), "Erp"));
        await using var provider = services.BuildServiceProvider();
        var credential = provider.GetRequiredService<AgentCredential>();
        await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var answer = await AgentIdentityFilterTests.ChatAsync(provider.GetRequiredService<Kernel>()).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("done", answer.ToString());
        var seen = Assert.Single(_erp.Seen);
        Assert.Equal(credential.Id.ToString(), seen.CertificateId);
        Assert.Equal(credential.Id.ToString(), seen.AgentHeader);
        Assert.Equal("Erp.GetInvoice", seen.Tool);
        Assert.Equal("call_abc", seen.ToolCallId);
        Assert.Equal("42", seen.InvoiceId);
        var toolResult = Assert.Single(model.ResultsIn(1)).Result?.ToString();
        Assert.Contains(credential.Id.ToString(), toolResult, StringComparison.Ordinal);
        var audit = TestAgents.Single(_audit, "Erp.GetInvoice");
        Assert.Equal("call_abc", audit.RequestId);
        Assert.Equal(AuditOutcome.Success, audit.Outcome);
        Assert.Equal(TestAgents.Sha256Hex("42"), Assert.Single(audit.Arguments).Sha256);
    }

    [Fact]
    public async Task ParallelAgents_ConcurrentConversations_EachCallCarriesOnlyItsOwnIdentity()
    {
        const int Rounds = 12;
        var services = AgentServices("planner", "auditor");
        await using var provider = services.BuildServiceProvider();
        var barrier = new RoundBarrier(participants: 2);
        var agents = new List<(AgentCredential Credential, Kernel Kernel, ErpHttpPlugin Plugin)>();
        foreach (var name in new[] { "planner", "auditor" })
        {
            var credential = provider.GetRequiredKeyedService<AgentCredential>(name);
            await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var plugin = new ErpHttpPlugin(provider.GetRequiredService<IHttpClientFactory>().CreateClient($"erp-{name}"), barrier);
            var builder = Kernel.CreateBuilder();
            builder.Plugins.AddFromObject(plugin, "Erp");
            var model = new ReactiveChatClient(messages => messages.SelectMany(m => m.Contents).OfType<Microsoft.Extensions.AI.FunctionResultContent>().Any()
                ? ScriptedChatClient.Text("done")
                : ScriptedChatClient.ToolCalls(($"{name}-call-{Round(messages)}", "Erp_GetInvoice", new() { ["id"] = Round(messages) })));
            builder.Services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
            builder.AddAgentIdentityFilters(credential, o => o.AuditSink = _audit);
            agents.Add((credential, builder.Build(), plugin));
        }

        Assert.NotEqual(agents[0].Credential.Id, agents[1].Credential.Id);
        var conversations = Enumerable.Range(0, Rounds)
            .SelectMany(round => agents.Select(a => Task.Run(() => a.Kernel.InvokePromptAsync(
                $"round {round}",
                new(new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() })))))
            .ToArray();
        await Task.WhenAll(conversations).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(Rounds * 2, _erp.Seen.Count);
        foreach (var (credential, _, plugin) in agents)
        {
            var name = credential.Id.ToString().Split('/')[4];
            Assert.Equal(Rounds, plugin.Seen.Count);
            Assert.All(plugin.Seen, s =>
            {
                Assert.Equal(credential.Id, s.Before);
                Assert.Equal(credential.Id, s.After);
                Assert.StartsWith($"{name}-call-", s.ToolCallId, StringComparison.Ordinal);
            });
            var atService = _erp.Seen.Where(s => s.CertificateId == credential.Id.ToString()).ToList();
            Assert.Equal(Rounds, atService.Count);
            Assert.All(atService, s =>
            {
                Assert.Equal(credential.Id.ToString(), s.AgentHeader);
                Assert.Equal($"{name}-call-{s.InvoiceId}", s.ToolCallId);
            });
            var audited = _audit.Events.Where(e => e.Agent == credential.Id).ToList();
            Assert.Equal(Rounds, audited.Count);
            Assert.All(audited, e => Assert.StartsWith($"{name}-call-", e.RequestId, StringComparison.Ordinal));
        }
    }

    private static int Round(IReadOnlyList<ChatMessage> messages) =>
        int.Parse(messages.First(m => m.Role == ChatRole.User).Text.Split(' ')[1], CultureInfo.InvariantCulture);

    /// <summary>The agent side: AddAgentIdentity on the test CA; one mTLS HttpClient per agent ("erp" for the default agent).</summary>
    private ServiceCollection AgentServices(params string[] names)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IX509SvidIssuer>(_agents.Ca);
        services.AddSingleton<ITrustBundleSource>(_agents.Ca);
        services.AddSingleton<IAuditSink>(_audit);
        var identity = services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "corp.example";
            o.AgentName = names[0];
            o.Credential.Policy = TestAgents.ReaderPolicy;
        });
        services.AddHttpClient("erp", c => c.BaseAddress = _erp.BaseAddress).AddAgentIdentity(o => o.ServerId = ErpService.ServerId);
        foreach (var name in names)
        {
            identity.AddAgent(name);
            services.AddHttpClient($"erp-{name}", c => c.BaseAddress = _erp.BaseAddress).AddAgentIdentity(o =>
            {
                o.ServerId = ErpService.ServerId;
                o.AgentName = name;
            });
        }

        return services;
    }
}
