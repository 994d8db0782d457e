using System.Text.RegularExpressions;
using AgentIdentity.Samples.Tests.TestInfrastructure;
using Xunit.Abstractions;

namespace AgentIdentity.Samples.Tests.Orchestrator;

/// <summary>Runs the built Orchestrator sample: an embedded issuer and mTLS service, and two agent processes that enroll with one-time
/// join tokens and call the service through <see cref="AgentHttpClient.CreateHandler"/>.</summary>
public sealed class OrchestratorTests(ITestOutputHelper log)
{
    [Fact]
    public async Task Orchestrator_TwoAgentProcesses_EnrollAndAreSeenByTheServiceUnderTheirOwnIds()
    {
        var run = await SampleProcess.RunAsync("OrchestratorPath", [], ["AGENTIDENTITY_ISSUER_KEK"]);
        log.WriteLine(run.ToString());

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Both agents enrolled and called the service.", run.Output, StringComparison.Ordinal);
        foreach (var agent in new[] { "researcher", "writer" })
        {
            // The service answered with the SPIFFE ID it read from the agent's client certificate: the one the agent enrolled as.
            var enrolled = Regex.Match(run.Output, $@"\[{agent}\] enrolled as (spiffe://orchestrator\.example/agent/{agent}/[a-z0-9]+),");
            Assert.True(enrolled.Success, run.Output);
            Assert.Contains($"[{agent}] service answered: hello {enrolled.Groups[1].Value}", run.Output, StringComparison.Ordinal);
        }
    }
}
