using AgentIdentity.Audit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Tests.Audit;

/// <summary><c>AddAuditLog(agentName, IConfiguration)</c>: the options bind, and errors name the full configuration key.</summary>
public sealed class AuditLogConfigurationTests
{
    [Fact]
    public void AddAuditLog_Configuration_BindsEveryOption()
    {
        var options = Options(new()
        {
            ["Audit:Directory"] = "/var/lib/agent/audit",
            ["Audit:Origin"] = "example.org/agent/planner/audit",
            ["Audit:CheckpointInterval"] = "00:00:05",
            ["Audit:CheckpointEveryEntries"] = "50",
            ["Audit:FlushMode"] = "EveryAppend",
            ["Audit:MaxSegmentBytes"] = "1048576",
        });

        Assert.Equal("/var/lib/agent/audit", options.Directory);
        Assert.Equal("example.org/agent/planner/audit", options.Origin);
        Assert.Equal(TimeSpan.FromSeconds(5), options.CheckpointInterval);
        Assert.Equal(50, options.CheckpointEveryEntries);
        Assert.Equal(AuditFlushMode.EveryAppend, options.FlushMode);
        Assert.Equal(1_048_576, options.MaxSegmentBytes);
    }

    [Theory]
    [InlineData("Audit:Directroy", "/tmp", "Unknown configuration key 'Audit:Directroy'")]
    [InlineData("Audit:FlushMode", "Sometimes", "'Sometimes' at 'Audit:FlushMode'")]
    [InlineData("Audit:MaxSegmentBytes", "10", "(configuration key 'Audit:MaxSegmentBytes')")]
    [InlineData("Audit:CheckpointInterval", "00:00:00", "(configuration key 'Audit:CheckpointInterval')")]
    public void AddAuditLog_BadConfiguration_FailsNamingTheKey(string key, string value, string expected)
    {
        var ex = Assert.ThrowsAny<Exception>(() => Options(new() { ["Audit:Directory"] = "/var/lib/agent/audit", [key] = value }));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAuditLog_ConfigurationWithoutDirectory_FailsNamingTheKey()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Options(new() { ["Audit:FlushMode"] = "Never" }));

        Assert.Contains("(configuration key 'Audit:Directory')", ex.Message, StringComparison.Ordinal);
    }

    private static AuditLogOptions Options(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddAgentIdentity(o => o.TrustDomain = "example.org").AddAuditLog("planner", configuration.GetSection("Audit"));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<AuditLogOptions>>().Value;
    }
}
