using AgentIdentity.Audit;
using AgentIdentity.SemanticKernel.Tests.TestInfrastructure;
using AgentIdentity.Tools;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel;

namespace AgentIdentity.SemanticKernel.Tests.Filters;

public sealed class AgentIdentityFilterTests : IAsyncLifetime
{
    private readonly TestAgents _agents = new();
    private readonly InMemoryAuditSink _audit = new();
    private readonly ErpPlugin _erp = new();
    private AgentCredential _planner = null!;

    public async Task InitializeAsync() => _planner = await _agents.CreateAsync("planner");

    public async Task DisposeAsync() => await _agents.DisposeAsync();

    [Fact]
    public async Task InvokeAsync_AllowedTool_ToolSeesAgentContextAndAuditRecordsSuccess()
    {
        var kernel = BuildKernel(_planner);

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Equal("invoice 42: 120.00 EUR", result.GetValue<string>());
        var seen = Assert.Single(_erp.Seen);
        Assert.NotNull(seen);
        var svid = _planner.GetCurrent();
        Assert.Equal(_planner.Id, seen.AgentId);
        Assert.Same(svid, seen.Svid);
        Assert.Equal("Erp.GetInvoice", seen.ToolName);
        Assert.Equal("Erp", seen.PluginName);
        Assert.Equal("GetInvoice", seen.FunctionName);
        Assert.Null(seen.ToolCallId);
        Assert.Null(AgentCallContext.Current);

        var audit = TestAgents.Single(_audit, "Erp.GetInvoice");
        Assert.Equal(AuditEventKind.ToolCall, audit.Kind);
        Assert.Equal(AuditOutcome.Success, audit.Outcome);
        Assert.Equal(_planner.Id, audit.Agent);
        Assert.Equal(svid.SerialNumber, audit.SerialNumber);
        var argument = Assert.Single(audit.Arguments);
        Assert.Equal("id", argument.Name);
        Assert.Equal(TestAgents.Sha256Hex("42"), argument.Sha256);
        Assert.Null(argument.Value);
        Assert.True(long.Parse(audit.Attributes!["duration_us"], System.Globalization.CultureInfo.InvariantCulture) >= 0);
        Assert.Contains("\"kind\":\"tool_call\"", audit.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokeAsync_ToolNotInCertificatePolicy_NotInvokedAndDenialAudited()
    {
        var kernel = BuildKernel(_planner);

        var result = await kernel.InvokeAsync("Erp", "DeleteInvoice", new() { ["id"] = "42" });

        Assert.Equal(0, _erp.Deletes);
        var message = result.GetValue<string>();
        Assert.Contains("denied by AgentIdentity policy", message, StringComparison.Ordinal);
        Assert.Contains("'Erp.DeleteInvoice'", message, StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.ToolNotAllowed), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        var audit = TestAgents.Single(_audit, "Erp.DeleteInvoice");
        Assert.Equal(AuditEventKind.PolicyDenial, audit.Kind);
        Assert.Equal(AuditOutcome.Denied, audit.Outcome);
        Assert.Equal("tool_not_allowed", audit.Attributes!["denial"]);
        Assert.Contains("tool allow-list", audit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokeAsync_ActionNotInCertificatePolicy_NotInvoked()
    {
        var kernel = BuildKernel(_planner, configure: o => o.ToolActions["Erp.GetInvoice"] = "invoices:write");

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Empty(_erp.Seen);
        Assert.Contains("'invoices:write'", result.GetValue<string>(), StringComparison.Ordinal);
        var audit = TestAgents.Single(_audit, "Erp.GetInvoice");
        Assert.Equal("invoices:write", audit.Action);
        Assert.Equal("action_not_allowed", audit.Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_ActionDeclaredInMetadataAndAllowed_Runs()
    {
        var function = KernelFunctionFactory.CreateFromMethod(
            (string city) => $"sunny in {city}",
            new KernelFunctionFromMethodOptions
            {
                FunctionName = "Now",
                AdditionalMetadata = new(new Dictionary<string, object?> { [ToolCallGuardOptions.ActionPropertyName] = "invoices:read" }),
            });
        var kernel = BuildKernel(_planner, plugins: k => k.Plugins.AddFromFunctions("Clock", [function]));

        var result = await kernel.InvokeAsync("Clock", "Now", new() { ["city"] = "Oslo" });

        Assert.Equal("sunny in Oslo", result.GetValue<string>());
        Assert.Equal("invoices:read", TestAgents.Single(_audit, "Clock.Now").Action);
    }

    [Fact]
    public async Task InvokeAsync_LocalPolicyDenies_NotInvokedAndReasonAudited()
    {
        var kernel = BuildKernel(_planner, configure: o => o.LocalPolicy = (svid, call) =>
            call.Arguments!.Any(a => a.Key == "id" && (a.Value as string) == "13")
                ? AuthorizationDecision.Denied("invoice 13 is under legal hold")
                : AuthorizationDecision.Allowed);

        var allowed = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });
        var denied = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "13" });

        Assert.Equal("invoice 42: 120.00 EUR", allowed.GetValue<string>());
        Assert.Contains("legal hold", denied.GetValue<string>(), StringComparison.Ordinal);
        Assert.Single(_erp.Seen);
        var events = _audit.Events;
        Assert.Equal([AuditOutcome.Success, AuditOutcome.Denied], events.Select(e => e.Outcome));
        Assert.Equal("local_policy", events[1].Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_LocalPolicyThrows_FailsClosed()
    {
        var kernel = BuildKernel(_planner, configure: o => o.LocalPolicy = (_, _) => throw new InvalidOperationException("policy store down"));

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Empty(_erp.Seen);
        Assert.Contains("the local policy failed (InvalidOperationException)", result.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokeAsync_CertificateWithoutPolicy_DeniedUnlessAllowed()
    {
        var svid = _agents.IssueSvid("spiffe://corp.example/agent/legacy/1", TimeSpan.FromHours(1), policy: null);

        var denied = await BuildKernel(svid).InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });
        Assert.Empty(_erp.Seen);
        Assert.Contains("carries no policy", denied.GetValue<string>(), StringComparison.Ordinal);

        var allowed = await BuildKernel(svid, configure: o => o.AllowWithoutCertificatePolicy = true).InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });
        Assert.Equal("invoice 42: 120.00 EUR", allowed.GetValue<string>());
    }

    [Fact]
    public async Task InvokeAsync_ToolThrows_ExceptionPropagatesAndFailureAudited()
    {
        var kernel = BuildKernel(_planner);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => kernel.InvokeAsync("Erp", "Fail"));

        Assert.Equal("the ERP is down", ex.Message);
        var audit = TestAgents.Single(_audit, "Erp.Fail");
        Assert.Equal(AuditOutcome.Failure, audit.Outcome);
        Assert.Equal("the tool threw System.InvalidOperationException", audit.Reason);
        Assert.Null(AgentCallContext.Current);
    }

    [Fact]
    public async Task InvokeAsync_RevokedIdentity_NotInvokedAndKillSwitchAudited()
    {
        var revocations = new InMemoryRevocationList();
        var kernel = BuildKernel(_planner, configure: o => o.RevocationStatus = revocations);
        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "1" });

        revocations.RevokeIdentity(_planner.Id, "compromised host");
        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Single(_erp.Seen);
        Assert.Contains("kill switch", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("compromised host", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.IdentityRevoked), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        var denied = _audit.Events[^1];
        Assert.Equal(AuditEventKind.ToolCall, denied.Kind);
        Assert.Equal(AuditOutcome.Denied, denied.Outcome);
        Assert.Equal("identity_revoked", denied.Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_RevokedSerialNumber_NotInvoked()
    {
        var revocations = new InMemoryRevocationList();
        revocations.RevokeSerialNumber(_planner.GetCurrent().SerialNumber.ToLowerInvariant(), "key leaked");
        var kernel = BuildKernel(_planner, configure: o => o.RevocationStatus = revocations);

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Empty(_erp.Seen);
        Assert.Contains("key leaked", result.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokeAsync_RevocationSourceThrows_FailsClosed()
    {
        var kernel = BuildKernel(_planner, configure: o => o.RevocationStatus = new ThrowingRevocationStatus());

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Empty(_erp.Seen);
        Assert.Contains("could not be determined", result.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvokeAsync_ExpiredIdentity_NotInvoked()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var svid = _agents.IssueSvid("spiffe://corp.example/agent/sleeper/1", TimeSpan.FromMinutes(5), TestAgents.ReaderPolicy);
        var kernel = BuildKernel(svid, time: time);
        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "1" });

        time.Advance(TimeSpan.FromMinutes(6));
        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Single(_erp.Seen);
        Assert.Contains("expired", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.IdentityUnavailable), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        Assert.Equal("identity_unavailable", _audit.Events[^1].Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_DisposedCredential_NotInvokedAndAuditedUnderItsId()
    {
        var doomed = await _agents.CreateAsync("doomed");
        var kernel = BuildKernel(doomed);
        await doomed.DisposeAsync();

        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Empty(_erp.Seen);
        Assert.Contains("disposed", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(doomed.Id, _audit.Events[^1].Agent);
    }

    [Fact]
    public async Task InvokeAsync_ImportedFunctionAndAddFromType_BothGuarded()
    {
        var imported = KernelFunctionFactory.CreateFromMethod((string q) => $"found {q}", "Search");
        var kernel = BuildKernel(_planner, plugins: k =>
        {
            k.Plugins.AddFromFunctions("Imported", [imported]);
            k.Plugins.AddFromType<TypedPlugin>("Typed");
        });

        var search = await kernel.InvokeAsync("Imported", "Search", new() { ["q"] = "x" });
        var typed = await kernel.InvokeAsync("Typed", "Echo", new() { ["text"] = "x" });

        Assert.Equal("found x", search.GetValue<string>());
        Assert.Contains("'Typed.Echo'", typed.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(AuditOutcome.Success, TestAgents.Single(_audit, "Imported.Search").Outcome);
        Assert.Equal(AuditOutcome.Denied, TestAgents.Single(_audit, "Typed.Echo").Outcome);
    }

    [Fact]
    public async Task InvokeAsync_RecordArgumentValues_RawValueKept()
    {
        var kernel = BuildKernel(_planner, configure: o => o.RecordArgumentValues = true);

        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Equal("42", Assert.Single(TestAgents.Single(_audit, "Erp.GetInvoice").Arguments).Value);
    }

    [Fact]
    public async Task AutoInvocation_TwoToolCalls_ToolsSeeCallIdsAndSequence()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "Erp_GetInvoice", new() { ["id"] = "1" }), ("call_2", "Erp_GetInvoice", new() { ["id"] = "2" })),
            _ => ScriptedChatClient.Text("Invoices 1 and 2 total 240 EUR."));
        var kernel = BuildKernel(_planner, model);

        var answer = await ChatAsync(kernel);

        Assert.Equal("Invoices 1 and 2 total 240 EUR.", answer.ToString());
        Assert.Equal(["call_1", "call_2"], _erp.Seen.Select(c => c!.ToolCallId));
        Assert.Equal([0, 1], _erp.Seen.Select(c => c!.ToolCallSequence ?? -1));
        Assert.All(_erp.Seen, c => Assert.Equal(_planner.Id, c!.AgentId));
        var events = _audit.Events;
        Assert.Equal(["call_1", "call_2"], events.Select(e => e.RequestId));
        Assert.Equal(["0", "1"], events.Select(e => e.Attributes!["tool_call_sequence"]));
        Assert.All(events, e => Assert.Equal("0", e.Attributes!["tool_call_iteration"]));
        Assert.Equal(["invoice 1: 120.00 EUR", "invoice 2: 120.00 EUR"], model.ResultsIn(1).Select(r => r.Result?.ToString()));
    }

    [Fact]
    public async Task AutoInvocation_DeniedTool_ModelGetsDenialAndChatContinues()
    {
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_7", "Erp_DeleteInvoice", new() { ["id"] = "42" })),
            _ => ScriptedChatClient.Text("I am not allowed to delete invoices."));
        var kernel = BuildKernel(_planner, model);

        var answer = await ChatAsync(kernel);

        Assert.Contains("Erp_DeleteInvoice", model.LastToolNames);
        Assert.Equal("I am not allowed to delete invoices.", answer.ToString());
        Assert.Equal(0, _erp.Deletes);
        var sentBack = Assert.Single(model.ResultsIn(1));
        Assert.Equal("call_7", sentBack.CallId);
        Assert.Contains("denied by AgentIdentity policy", sentBack.Result?.ToString(), StringComparison.Ordinal);
        var audit = TestAgents.Single(_audit, "Erp.DeleteInvoice");
        Assert.Equal(AuditEventKind.PolicyDenial, audit.Kind);
        Assert.Equal("call_7", audit.RequestId);
        Assert.Equal(TestAgents.Sha256Hex("42"), Assert.Single(audit.Arguments).Sha256);
    }

    [Fact]
    public async Task AutoInvocation_RevokedIdentity_NotInvokedAndLoopTerminated()
    {
        var revocations = new InMemoryRevocationList();
        revocations.RevokeIdentity(_planner.Id, "operator pressed the kill switch");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "Erp_GetInvoice", new() { ["id"] = "1" }), ("call_2", "Erp_GetInvoice", new() { ["id"] = "2" })),
            _ => ScriptedChatClient.Text("must not be reached"));
        var kernel = BuildKernel(_planner, model, configure: o => o.RevocationStatus = revocations);

        await ChatAsync(kernel);

        Assert.Empty(_erp.Seen);
        Assert.Single(model.Requests);
        var audit = Assert.Single(_audit.Events);
        Assert.Equal("call_1", audit.RequestId);
        Assert.Equal("identity_revoked", audit.Attributes!["denial"]);
    }

    [Fact]
    public async Task InvokeAsync_CredentialKillSwitchTripped_NotInvokedAndRevocationAudited()
    {
        using var killSwitch = new KillSwitch(_agents);
        killSwitch.Watch(_planner);
        var kernel = BuildKernel(_planner);
        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "1" });

        await killSwitch.RevokeAsync(_planner.Id);
        var result = await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "2" });

        Assert.Throws<IdentityRevokedException>(() => _planner.GetCurrent());
        Assert.Single(_erp.Seen);
        Assert.Contains("kill switch", result.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(nameof(ToolCallDenialKind.IdentityRevoked), result.Metadata![AgentIdentityFilter.DenialMetadataKey]);
        var denied = _audit.Events[^1];
        Assert.Equal(AuditOutcome.Denied, denied.Outcome);
        Assert.Equal(_planner.Id, denied.Agent);
        Assert.Equal("identity_revoked", denied.Attributes!["denial"]);
        Assert.Contains("revoked", denied.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AutoInvocation_CredentialKillSwitchTripped_NotInvokedAuditedAndLoopTerminated()
    {
        using var killSwitch = new KillSwitch(_agents);
        killSwitch.Watch(_planner);
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "Erp_GetInvoice", new() { ["id"] = "1" }), ("call_2", "Erp_GetInvoice", new() { ["id"] = "2" })),
            _ => ScriptedChatClient.Text("must not be reached"));
        var kernel = BuildKernel(_planner, model);

        await killSwitch.RevokeAsync(_planner.Id);
        await ChatAsync(kernel);

        Assert.True(_planner.IsRevoked);
        Assert.Empty(_erp.Seen);
        Assert.Single(model.Requests);
        var audit = Assert.Single(_audit.Events);
        Assert.Equal("call_1", audit.RequestId);
        Assert.Equal(_planner.Id, audit.Agent);
        Assert.Equal(AuditOutcome.Denied, audit.Outcome);
        Assert.Equal("identity_revoked", audit.Attributes!["denial"]);
    }

    [Fact]
    public async Task AutoInvocation_KillSwitchWithoutTerminate_ModelToldToStop()
    {
        var revocations = new InMemoryRevocationList();
        revocations.RevokeIdentity(_planner.Id, "revoked");
        var model = new ScriptedChatClient(
            _ => ScriptedChatClient.ToolCalls(("call_1", "Erp_GetInvoice", new() { ["id"] = "1" })),
            _ => ScriptedChatClient.Text("stopping"));
        var kernel = BuildKernel(_planner, model, configure: o =>
        {
            o.RevocationStatus = revocations;
            o.TerminateOnKillSwitch = false;
        });

        var answer = await ChatAsync(kernel);

        Assert.Equal("stopping", answer.ToString());
        Assert.Contains("must stop", Assert.Single(model.ResultsIn(1)).Result?.ToString(), StringComparison.Ordinal);
        Assert.Empty(_erp.Seen);
    }

    [Fact]
    public async Task AddAgentIdentityFilters_ServicesDefaultAgent_FiltersAppliedOnceAndAuditSinkFromServices()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IX509SvidSource>(_planner);
        services.AddSingleton<IAuditSink>(_audit);
        services.AddAgentIdentityFilters();
        services.AddAgentIdentityFilters();
        services.AddKernel().Plugins.AddFromObject(_erp, "Erp");
        await using var provider = services.BuildServiceProvider();
        var kernel = provider.GetRequiredService<Kernel>();

        await kernel.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Single(kernel.FunctionInvocationFilters);
        Assert.Single(kernel.AutoFunctionInvocationFilters);
        Assert.Equal(_planner.Id, TestAgents.Single(_audit, "Erp.GetInvoice").Agent);
    }

    [Fact]
    public async Task AddAgentIdentityFilters_NamedAgentMissing_ErrorNamesTheFix()
    {
        var services = new ServiceCollection();
        services.AddAgentIdentityFilters("auditor");
        services.AddKernel();
        await using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Kernel>());

        Assert.Contains(".AddAgent(\"auditor\")", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentityFilters_NamedAgent_UsesKeyedIdentity()
    {
        var auditor = await _agents.CreateAsync("auditor");
        var services = new ServiceCollection();
        services.AddSingleton<IX509SvidSource>(_planner);
        services.AddKeyedSingleton<IX509SvidSource>("auditor", auditor);
        services.AddSingleton<IAuditSink>(_audit);
        services.AddAgentIdentityFilters("auditor");
        services.AddKernel().Plugins.AddFromObject(_erp, "Erp");
        await using var provider = services.BuildServiceProvider();

        await provider.GetRequiredService<Kernel>().InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "42" });

        Assert.Equal(auditor.Id, Assert.Single(_erp.Seen)!.AgentId);
    }

    [Fact]
    public async Task UseAgentIdentity_KernelAlreadyBound_ThrowsAndCloneCanBeBound()
    {
        var kernel = BuildKernel(_planner);
        var other = await _agents.CreateAsync("other");

        var ex = Assert.Throws<InvalidOperationException>(() => kernel.UseAgentIdentity(other));
        Assert.Contains("bind one clone of it per agent", ex.Message, StringComparison.Ordinal);

        var clone = new Kernel(plugins: kernel.Plugins);
        clone.UseAgentIdentity(other, o => o.AuditSink = _audit);
        await clone.InvokeAsync("Erp", "GetInvoice", new() { ["id"] = "1" });
        Assert.Equal(other.Id, Assert.Single(_erp.Seen)!.AgentId);
    }

    internal static Task<FunctionResult> ChatAsync(Kernel kernel) =>
        kernel.InvokePromptAsync("What do invoices 1 and 2 cost?", new(new PromptExecutionSettings { FunctionChoiceBehavior = FunctionChoiceBehavior.Auto() }));

    private Kernel BuildKernel(IX509SvidSource identity, ScriptedChatClient? model = null, Action<ToolCallGuardOptions>? configure = null, Action<IKernelBuilder>? plugins = null, TimeProvider? time = null)
    {
        var builder = Kernel.CreateBuilder();
        builder.Plugins.AddFromObject(_erp, "Erp");
        plugins?.Invoke(builder);
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        if (model is not null)
        {
            builder.Services.AddSingleton<IChatClient>(sp => model.AsBuilder().UseKernelFunctionInvocation().Build(sp));
        }

        builder.AddAgentIdentityFilters(identity, o =>
        {
            o.AuditSink = _audit;
            configure?.Invoke(o);
        });
        return builder.Build();
    }

    private sealed class ThrowingRevocationStatus : IRevocationStatus
    {
        public bool IsRevoked(X509Svid svid, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? reason) =>
            throw new TimeoutException("feed unreachable");
    }
}

public sealed class TypedPlugin
{
    [KernelFunction]
    public string Echo(string text) => text;
}
