using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentIdentity.Samples.Tests.TestInfrastructure;
using Xunit.Abstractions;

namespace AgentIdentity.Samples.Tests.ConsoleAgent;

/// <summary>The smallest agent process: it gets its own SVID, and what it ships holds nothing that only an issuer, a service or
/// an auditor runs (the architecture's package rule, checked on the built sample's dependency manifest).</summary>
public sealed class ConsoleAgentTests(ITestOutputHelper log)
{
    [Fact]
    public async Task ConsoleAgent_Run_PrintsItsOwnSvid()
    {
        var run = await SampleProcess.RunAsync("ConsoleAgentPath", [], []);
        log.WriteLine(run.ToString());

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(new Regex(@"^spiffe://corp\.example/agent/planner/[a-z0-9]+ serial [0-9A-F]+, valid until ", RegexOptions.Multiline), run.Output);
    }

    [Fact]
    public void ConsoleAgent_Dependencies_HaveNoBouncyCastleAspNetCoreOrAuditLog()
    {
        var path = typeof(ConsoleAgentTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ConsoleAgentPath").Value!;
        var depsPath = Path.ChangeExtension(path, ".deps.json");
        using var deps = JsonDocument.Parse(File.ReadAllText(depsPath));

        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();
        var frameworks = File.ReadAllText(Path.ChangeExtension(path, ".runtimeconfig.json"));

        Assert.Contains("AgentIdentity.Sdk", libraries);
        Assert.DoesNotContain(libraries, l => l.StartsWith("BouncyCastle", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(libraries, l => l.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        Assert.DoesNotContain(libraries, l => l is "AgentIdentity.Sdk.Audit" or "AgentIdentity.Sdk.Issuer" or "AgentIdentity.Sdk.AspNetCore");
        Assert.DoesNotContain("Microsoft.AspNetCore.App", frameworks, StringComparison.Ordinal);
    }
}
