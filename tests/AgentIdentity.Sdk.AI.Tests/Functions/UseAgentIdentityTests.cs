using System.Collections.Concurrent;
using AgentIdentity.AI;
using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using AgentIdentity.Tools;
using Microsoft.Agents.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.AI.Tests.Functions;

public sealed class UseAgentIdentityTests : IAsyncLifetime
{
    private static readonly AgentPolicy Policy = new(
        services: ["spiffe://corp.example/svc/*"],
        actions: ["invoices:read"],
        tools: ["GetInvoice", "FetchInvoice"]);

    private readonly TestAgents _agents = new();
    private readonly InMemoryAuditSink _audit = new();
    private readonly ConcurrentQueue<AgentCallContext?> _seen = new();
    private int _deletes;
    private AgentCredential _planner = null!;

    public async Task InitializeAsync() => _planner = await _agents.CreateAsync("planner", Policy);

    public async Task DisposeAsync() => await _agents.DisposeAsync();

    [Fact]
    public async Task UseAgentIdentity_AllowedTool_ToolSeesIdentityAndCallIdAndAuditRecordsIt()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "GetInvoice", new() { ["id"] = "7" })),
            _ => ScriptedChatClient.Text("done"));
        using var client = model.AsBuilder().UseAgentIdentity(_planner, o => o.AuditSink = _audit).UseFunctionInvocation().Build();

        var response = await client.GetResponseAsync("invoice 7?", Options());

        Assert.Equal("done", response.Text);
        var seen = Assert.Single(_seen);
        Assert.NotNull(seen);
        Assert.Equal(_planner.Id, seen.AgentId);
        Assert.Equal("GetInvoice", seen.ToolName);
        Assert.Equal("call_1", seen.ToolCallId);
        Assert.Equal(0, seen.ToolCallSequence);
        var audit = TestAgents.Single(_audit, "GetInvoice");
        Assert.Equal(AuditOutcome.Success, audit.Outcome);
        Assert.Equal("call_1", audit.RequestId);
        Assert.Equal(TestAgents.Sha256Hex("7"), Assert.Single(audit.Arguments).Sha256);
        Assert.Equal("invoice 7", Assert.Single(model.ResultsIn(1)).Result?.ToString());
    }

    [Fact]
    public async Task UseAgentIdentity_DeniedTool_NotInvokedModelToldAndChatContinues()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_9", "DeleteInvoice", new() { ["id"] = "7" })),
            _ => ScriptedChatClient.Text("cannot delete"));
        using var client = model.AsBuilder().UseAgentIdentity(_planner, o => o.AuditSink = _audit).UseFunctionInvocation().Build();

        var response = await client.GetResponseAsync("delete invoice 7", Options());

        Assert.Equal("cannot delete", response.Text);
        Assert.Equal(0, _deletes);
        Assert.Contains("denied by AgentIdentity policy", Assert.Single(model.ResultsIn(1)).Result?.ToString(), StringComparison.Ordinal);
        var audit = TestAgents.Single(_audit, "DeleteInvoice");
        Assert.Equal(AuditEventKind.PolicyDenial, audit.Kind);
        Assert.Equal("call_9", audit.RequestId);
    }

    [Fact]
    public async Task UseAgentIdentity_RevokedIdentity_NotInvokedAndLoopTerminated()
    {
        var revocations = new InMemoryRevocationList();
        revocations.RevokeIdentity(_planner.Id, "incident 4711");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "GetInvoice", new() { ["id"] = "7" })),
            _ => ScriptedChatClient.Text("must not be reached"));
        using var client = model.AsBuilder().UseAgentIdentity(_planner, o =>
        {
            o.AuditSink = _audit;
            o.RevocationStatus = revocations;
        }).UseFunctionInvocation().Build();

        var response = await client.GetResponseAsync("invoice 7?", Options());

        Assert.Empty(_seen);
        Assert.Single(model.Requests);
        Assert.Contains("incident 4711", response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Single().Result?.ToString(), StringComparison.Ordinal);
        Assert.Equal("identity_revoked", Assert.Single(_audit.Events).Attributes!["denial"]);
    }

    [Fact]
    public async Task UseAgentIdentity_CredentialKillSwitchTripped_NotInvokedAuditedAndLoopTerminated()
    {
        using var killSwitch = new KillSwitch(_agents);
        killSwitch.Watch(_planner);
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "GetInvoice", new() { ["id"] = "7" }), ("call_2", "GetInvoice", new() { ["id"] = "8" })),
            _ => ScriptedChatClient.Text("must not be reached"));
        using var client = model.AsBuilder().UseAgentIdentity(_planner, o => o.AuditSink = _audit).UseFunctionInvocation().Build();

        await killSwitch.RevokeAsync(_planner.Id);
        var response = await client.GetResponseAsync("invoices 7 and 8?", Options());

        Assert.Throws<IdentityRevokedException>(() => _planner.GetCurrent());
        Assert.Empty(_seen);
        Assert.Single(model.Requests);
        var result = response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().First(r => r.CallId == "call_1");
        Assert.Contains("kill switch", result.Result?.ToString(), StringComparison.Ordinal);
        var audit = Assert.Single(_audit.Events);
        Assert.Equal("call_1", audit.RequestId);
        Assert.Equal(_planner.Id, audit.Agent);
        Assert.Equal(AuditOutcome.Denied, audit.Outcome);
        Assert.Equal("identity_revoked", audit.Attributes!["denial"]);
    }

    [Fact]
    public async Task UseAgentIdentity_PlacedInsideFunctionInvocation_ThrowsInsteadOfRunningUnguarded()
    {
        var model = new ScriptedChatClient(_ => ScriptedChatClient.Text("x"));
        using var client = model.AsBuilder().UseFunctionInvocation().UseAgentIdentity(_planner, o => o.AuditSink = _audit).Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync("hi", Options()));

        Assert.Contains("before UseFunctionInvocation()", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseAgentIdentity_IdentityFromServices_UsesRegisteredSourceAndAuditSink()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IX509SvidSource>(_planner);
        services.AddSingleton<IAuditSink>(_audit);
        await using var provider = services.BuildServiceProvider();
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "GetInvoice", new() { ["id"] = "7" })),
            _ => ScriptedChatClient.Text("done"));
        using var client = model.AsBuilder().UseAgentIdentity().UseFunctionInvocation().Build(provider);

        await client.GetResponseAsync("invoice 7?", Options());

        Assert.Equal(_planner.Id, TestAgents.Single(_audit, "GetInvoice").Agent);
    }

    [Fact]
    public void UseAgentIdentity_NoIdentityAnywhere_ErrorSaysWhatToDo()
    {
        var model = new ScriptedChatClient(_ => ScriptedChatClient.Text("x"));

        var ex = Assert.Throws<InvalidOperationException>(() => model.AsBuilder().UseAgentIdentity().UseFunctionInvocation().Build());

        Assert.Contains("services.AddAgentIdentity", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithAgentIdentity_DirectInvocation_GuardedWithoutCallId()
    {
        var middleware = AgentIdentityChatClientBuilderExtensions.CreateMiddleware(null, _planner, o => o.AuditSink = _audit);
        var allowed = Tools()[0].WithAgentIdentity(middleware);
        var denied = Tools()[1].WithAgentIdentity(middleware);

        var ok = await allowed.InvokeAsync(new AIFunctionArguments { ["id"] = "3" });
        var refused = await denied.InvokeAsync(new AIFunctionArguments { ["id"] = "3" });

        Assert.Equal("invoice 3", ok?.ToString());
        Assert.Contains("denied", refused?.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, _deletes);
        Assert.Null(Assert.Single(_seen)!.ToolCallId);
        Assert.Same(allowed, allowed.WithAgentIdentity(middleware));
    }

    [Fact]
    public async Task AgentFrameworkMiddleware_AllowedAndDeniedTools_GuardedInsideChatClientAgent()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_a", "GetInvoice", new() { ["id"] = "1" }), ("call_b", "DeleteInvoice", new() { ["id"] = "1" })),
            _ => ScriptedChatClient.Text("read 1, could not delete 1"));
        var middleware = AgentIdentityChatClientBuilderExtensions.CreateMiddleware(null, _planner, o => o.AuditSink = _audit);
        AIAgent agent = model.AsAIAgent(instructions: "You manage invoices.", name: "planner", tools: [.. Tools()]);
        agent = agent.AsBuilder().Use((_, context, next, ct) => middleware.InvokeAsync(context, next, ct)).Build();

        var response = await agent.RunAsync("read and delete invoice 1");

        Assert.Equal("read 1, could not delete 1", response.Text);
        Assert.Equal(0, _deletes);
        var seen = Assert.Single(_seen);
        Assert.Equal(_planner.Id, seen!.AgentId);
        Assert.Equal("call_a", seen.ToolCallId);
        Assert.Equal([AuditOutcome.Success, AuditOutcome.Denied], _audit.Events.Select(e => e.Outcome));
        Assert.Equal(["call_a", "call_b"], _audit.Events.Select(e => e.RequestId));
        Assert.Contains("denied by AgentIdentity policy", model.ResultsIn(1).Single(r => r.CallId == "call_b").Result?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ParallelAgents_ConcurrentConversations_EachToolSeesOnlyItsOwnIdentity()
    {
        const int Rounds = 10;
        var auditor = await _agents.CreateAsync("auditor", Policy);
        var barrier = new RoundBarrier(participants: 2);
        var seen = new ConcurrentQueue<(SpiffeId Expected, SpiffeId Before, SpiffeId After, string? CallId)>();
        var conversations = new List<Task>();
        foreach (var credential in new[] { _planner, auditor })
        {
            var tool = AIFunctionFactory.Create(
                async (int id) =>
                {
                    var before = AgentCallContext.Current?.AgentId ?? default;
                    await barrier.SignalAndWaitAsync(id);
                    seen.Enqueue((credential.Id, before, AgentCallContext.Current?.AgentId ?? default, AgentCallContext.Current?.ToolCallId));
                    return $"invoice {id}";
                },
                "GetInvoice");
            var model = new ReactiveChatClient(messages => messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().Any()
                ? ScriptedChatClient.Text("done")
                : ScriptedChatClient.ToolCalls(($"{credential.Id}#{messages[0].Text}", "GetInvoice", new() { ["id"] = int.Parse(messages[0].Text, System.Globalization.CultureInfo.InvariantCulture) })));
            var client = model.AsBuilder().UseAgentIdentity(credential, o => o.AuditSink = _audit).UseFunctionInvocation().Build();
            for (var round = 0; round < Rounds; round++)
            {
                var prompt = round.ToString(System.Globalization.CultureInfo.InvariantCulture);
                conversations.Add(Task.Run(() => client.GetResponseAsync(prompt, new ChatOptions { Tools = [tool] })));
            }
        }

        await Task.WhenAll(conversations).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(Rounds * 2, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.Equal(s.Expected, s.Before);
            Assert.Equal(s.Expected, s.After);
            Assert.StartsWith($"{s.Expected}#", s.CallId, StringComparison.Ordinal);
        });
        Assert.All(_audit.Events, e => Assert.StartsWith($"{e.Agent}#", e.RequestId, StringComparison.Ordinal));
    }

    private ChatOptions Options() => new() { Tools = [.. Tools()] };

    private AIFunction[] Tools() =>
    [
        AIFunctionFactory.Create(
            (string id) =>
            {
                _seen.Enqueue(AgentCallContext.Current);
                return $"invoice {id}";
            },
            "GetInvoice"),
        AIFunctionFactory.Create(
            (string id) =>
            {
                Interlocked.Increment(ref _deletes);
                return $"deleted {id}";
            },
            "DeleteInvoice"),
    ];
}
