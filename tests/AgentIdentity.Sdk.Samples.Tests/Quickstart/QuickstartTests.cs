using AgentIdentity.Samples.Tests.TestInfrastructure;
using Xunit.Abstractions;

namespace AgentIdentity.Samples.Tests.Quickstart;

/// <summary>Runs the built Quickstart as a process (as a user would), with the real OpenAI client against a local fake server.</summary>
public sealed class QuickstartTests(ITestOutputHelper log)
{
    private const string Key = "sk-test-SECRET-fedcba9876543210";

    [Fact]
    public async Task Quickstart_NoModelVariables_RunsScriptedModelAndExitsZero()
    {
        var run = await RunQuickstartAsync([]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("model: scripted, offline", run.Output, StringComparison.Ordinal);
        Assert.Contains("4 tool calls audited, 1 denied by policy; the service saw 1 authenticated call(s).", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("problem:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quickstart_RealModelOverHttp_ToolCallsAreCheckedAttributedAndAudited()
    {
        await using var server = await FakeOpenAIServer.StartAsync();

        var run = await RunQuickstartAsync(new()
        {
            ["AGENTIDENTITY_MODEL"] = "fake-model",
            ["AGENTIDENTITY_MODEL_ENDPOINT"] = server.BaseAddress.ToString(),
            ["AGENTIDENTITY_MODEL_API_KEY"] = Key,
        });

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"model: fake-model at {server.BaseAddress} (real, key from AGENTIDENTITY_MODEL_API_KEY)", run.Output, StringComparison.Ordinal);
        Assert.Contains("Every tool call of the real model was checked, attributed and audited.", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("problem:", run.Output, StringComparison.Ordinal);

        // The fake model asked each agent for both tools: the planner's ERP call went through over mTLS, the researcher's was denied.
        Assert.Contains("4 tool calls audited, 1 denied by policy; the service saw 1 authenticated call(s).", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"certificate spiffe://quickstart\.example/agent/planner/\S+  tool Erp\.GetInvoice  tool call call_fake\d+", run.Output);

        // Two conversations of two turns each, over the OpenAI wire format, with the key as a bearer token and the tools offered.
        var requests = server.Requests.ToArray();
        Assert.Equal(4, requests.Length);
        Assert.All(requests, r => Assert.Equal("/v1/chat/completions", r.Path));
        Assert.All(requests, r => Assert.Equal($"Bearer {Key}", r.Authorization));
        Assert.All(requests, r => Assert.Equal("fake-model", r.Body["model"]?.ToString()));
        Assert.All(requests, r => Assert.Contains("Erp_GetInvoice", r.Body["tools"]?.ToJsonString() ?? string.Empty, StringComparison.Ordinal));

        // The model was told about the denial in a tool result, not with an error that ended the chat.
        var toolResults = requests.SelectMany(r => r.Body["messages"]!.AsArray()).Where(m => m?["role"]?.ToString() == "tool").Select(m => m!.ToJsonString()).ToList();
        Assert.Contains(toolResults, t => t.Contains("denied by AgentIdentity policy", StringComparison.Ordinal));
        Assert.Contains(toolResults, t => t.Contains("invoice 42: 120.00 EUR (served to spiffe://quickstart.example/agent/planner/", StringComparison.Ordinal));
        Assert.DoesNotContain(Key, run.Output + run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quickstart_RealModelMakesNoToolCalls_ExitsOneAndSaysWhy()
    {
        await using var server = await FakeOpenAIServer.StartAsync(FakeModelBehavior.AnswerWithoutTools);

        var run = await RunQuickstartAsync(new()
        {
            ["AGENTIDENTITY_MODEL"] = "fake-model",
            ["AGENTIDENTITY_MODEL_ENDPOINT"] = server.BaseAddress.ToString(),
        });

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("(real, no key (local server))", run.Output, StringComparison.Ordinal);
        Assert.Contains("problem: the model made no tool calls", run.Output, StringComparison.Ordinal);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task Quickstart_RealModelRejectsKey_ExitsOneWithoutPrintingTheKey()
    {
        await using var server = await FakeOpenAIServer.StartAsync(FakeModelBehavior.RejectKey);

        var run = await RunQuickstartAsync(new()
        {
            ["AGENTIDENTITY_MODEL"] = "fake-model",
            ["AGENTIDENTITY_MODEL_ENDPOINT"] = server.BaseAddress.ToString(),
            ["AGENTIDENTITY_MODEL_API_KEY"] = Key,
        });

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("failed: HTTP 401", run.Output, StringComparison.Ordinal);
        Assert.Contains("problem: a conversation did not complete", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, run.Output + run.Error, StringComparison.Ordinal);
        Assert.Contains(server.Requests, r => r.Authorization == $"Bearer {Key}"); // the server did echo it back
    }

    [Fact]
    public async Task Quickstart_RealModelUnreachable_ExitsOneWithTheCause()
    {
        // A loopback port that was free a moment ago: connections are refused.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var run = await RunQuickstartAsync(new()
        {
            ["AGENTIDENTITY_MODEL"] = "fake-model",
            ["AGENTIDENTITY_MODEL_ENDPOINT"] = $"http://127.0.0.1:{port}/v1",
        });

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"the model call to http://127.0.0.1:{port}/v1 failed: Connection refused", run.Output, StringComparison.Ordinal);
        Assert.Contains("problem: a conversation did not complete", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quickstart_PartialConfiguration_ExitsTwoAtStartNamingTheVariable()
    {
        var run = await RunQuickstartAsync(new() { ["AGENTIDENTITY_MODEL_API_KEY"] = Key });

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("AGENTIDENTITY_MODEL_API_KEY is set but AGENTIDENTITY_MODEL is not", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("issued", run.Output, StringComparison.Ordinal); // stopped before any identity was created
        Assert.DoesNotContain(Key, run.Output + run.Error, StringComparison.Ordinal);
    }

    private async Task<SampleRun> RunQuickstartAsync(Dictionary<string, string> variables)
    {
        var run = await SampleProcess.RunAsync("QuickstartPath", variables, ["AGENTIDENTITY_MODEL", "AGENTIDENTITY_MODEL_ENDPOINT", "AGENTIDENTITY_MODEL_API_KEY", "OPENAI_API_KEY"]);
        log.WriteLine(run.ToString());
        return run;
    }
}
