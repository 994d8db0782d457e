using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Spiffe.Tests.WorkloadApi;

/// <summary>Issue 19 §2: <c>UseSpiffeWorkloadApi(IConfiguration)</c> binds the client's options; every error names the full key.</summary>
public sealed class WorkloadApiConfigurationTests
{
    private static WorkloadApiOptions Resolve(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddAgentIdentity().UseSpiffeWorkloadApi(configuration.GetSection("AgentIdentity:WorkloadApi"));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<WorkloadApiOptions>>().Value;
    }

    [Fact]
    public void UseSpiffeWorkloadApi_FromConfiguration_BindsEveryKey()
    {
        var options = Resolve(new()
        {
            ["AgentIdentity:WorkloadApi:Address"] = "unix:///run/spire/agent.sock",
            ["AgentIdentity:WorkloadApi:Hint"] = "planner",
            ["AgentIdentity:WorkloadApi:BackoffStep"] = "00:00:02",
            ["AgentIdentity:WorkloadApi:MaxBackoff"] = "00:01:00",
        });

        Assert.Equal("unix:///run/spire/agent.sock", options.Address);
        Assert.Equal("planner", options.Hint);
        Assert.Equal(TimeSpan.FromSeconds(2), options.BackoffStep);
        Assert.Equal(TimeSpan.FromMinutes(1), options.MaxBackoff);
    }

    [Fact]
    public void UseSpiffeWorkloadApi_UnknownKey_FailsNamingTheFullKey()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Resolve(new() { ["AgentIdentity:WorkloadApi:Adress"] = "unix:///x" }));
        Assert.Contains("'AgentIdentity:WorkloadApi:Adress'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseSpiffeWorkloadApi_ValueBreakingARule_FailsNamingTheKey()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(new()
        {
            ["AgentIdentity:WorkloadApi:BackoffStep"] = "00:00:10",
            ["AgentIdentity:WorkloadApi:MaxBackoff"] = "00:00:01",
        }));
        Assert.Contains("configuration key 'AgentIdentity:WorkloadApi:MaxBackoff'", ex.Message, StringComparison.Ordinal);
    }
}
