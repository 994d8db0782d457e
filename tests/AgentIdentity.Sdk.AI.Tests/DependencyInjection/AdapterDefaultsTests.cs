using System.Text.Json;
using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel;

namespace AgentIdentity.AI.Tests.DependencyInjection;

/// <summary>The Semantic Kernel filters and the Microsoft.Extensions.AI middleware build their guard with one core factory
/// (<see cref="ToolCallGuard.Create"/>): from the same services they must get the same defaults.</summary>
public sealed class AdapterDefaultsTests : IAsyncLifetime
{
    private readonly TestAgents _agents = new();
    private AgentCredential _planner = null!;

    public async Task InitializeAsync() => _planner = await _agents.CreateAsync("planner", new AgentPolicy(tools: ["GetInvoice"]));

    public async Task DisposeAsync() => await _agents.DisposeAsync();

    [Fact]
    public async Task BothAdapters_SameServices_SameAuditSinkRevocationSeamClockAndArgumentHashes()
    {
        var audit = new InMemoryAuditSink();
        var revocations = new InMemoryRevocationList();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(1));
        var services = new ServiceCollection();
        services.AddSingleton<IX509SvidSource>(_planner);
        services.AddSingleton<IAuditSink>(audit);
        services.AddSingleton<IRevocationStatus>(revocations);
        services.AddSingleton<TimeProvider>(time);
        services.AddAgentIdentityFilters();
        await using var provider = services.BuildServiceProvider();

        var kernelGuard = Assert.IsType<AgentIdentityFilter>(provider.GetRequiredService<IFunctionInvocationFilter>()).Guard;
        var chatGuard = AgentIdentityChatClientBuilderExtensions.CreateMiddleware(provider).Guard;

        Assert.Same(_planner, kernelGuard.Identity);
        Assert.Same(_planner, chatGuard.Identity);
        Assert.Same(audit, kernelGuard.Options.AuditSink);
        Assert.Same(audit, chatGuard.Options.AuditSink);
        Assert.Same(revocations, kernelGuard.Options.RevocationStatus);
        Assert.Same(revocations, chatGuard.Options.RevocationStatus);

        // Structured arguments are hashed as the same JSON (the Microsoft.Extensions.AI defaults), not as ToString().
        var invoice = new Dictionary<string, object?> { ["amount"] = 12.5m, ["note"] = "Müller <GmbH>" };
        var json = JsonSerializer.Serialize(invoice, AIJsonUtilities.DefaultOptions);
        Assert.Equal(json, kernelGuard.Options.ArgumentFormatter!(invoice));
        Assert.Equal(json, chatGuard.Options.ArgumentFormatter!(invoice));

        // The registered clock times both guards' audit events.
        await InvokeAsync(kernelGuard, "kernel", invoice);
        await InvokeAsync(chatGuard, "chat", invoice);
        Assert.Equal(2, audit.Events.Count);
        Assert.All(audit.Events, e => Assert.Equal(time.GetUtcNow(), e.Timestamp));
        Assert.Equal(audit.Events[0].Arguments.Single().Sha256, audit.Events[1].Arguments.Single().Sha256);
        Assert.Equal(TestAgents.Sha256Hex(json), audit.Events[0].Arguments.Single().Sha256);

        // The registered revocation seam trips both.
        revocations.RevokeIdentity(_planner.Id, "incident 7");
        Assert.Equal(ToolCallDenialKind.IdentityRevoked, kernelGuard.Authorize(Call("kernel", null), out _).Denial);
        Assert.Equal(ToolCallDenialKind.IdentityRevoked, chatGuard.Authorize(Call("chat", null), out _).Denial);
    }

    [Fact]
    public async Task BothAdapters_OnlyLoggingRegistered_BothAuditToLoggingSinkWithoutRevocationSeam()
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(new FakeLoggerProvider()));   // logging that records the audit category
        services.AddSingleton<IX509SvidSource>(_planner);
        services.AddAgentIdentityFilters();
        await using var provider = services.BuildServiceProvider();

        var kernelGuard = Assert.IsType<AgentIdentityFilter>(provider.GetRequiredService<IFunctionInvocationFilter>()).Guard;
        var chatGuard = AgentIdentityChatClientBuilderExtensions.CreateMiddleware(provider).Guard;

        Assert.IsType<LoggingAuditSink>(kernelGuard.Options.AuditSink);
        Assert.IsType<LoggingAuditSink>(chatGuard.Options.AuditSink);
        Assert.Null(kernelGuard.Options.RevocationStatus);
        Assert.Null(chatGuard.Options.RevocationStatus);
    }

    private static ToolCall Call(string id, object? argument) => new()
    {
        ToolName = "GetInvoice",
        FunctionName = "GetInvoice",
        ToolCallId = id,
        Arguments = argument is null ? null : [new("invoice", argument)],
    };

    private static async Task InvokeAsync(ToolCallGuard guard, string id, object argument)
    {
        var outcome = await guard.InvokeAsync(Call(id, argument), 0, static _ => ValueTask.CompletedTask);
        Assert.True(outcome.WasInvoked, outcome.Reason);
    }
}
