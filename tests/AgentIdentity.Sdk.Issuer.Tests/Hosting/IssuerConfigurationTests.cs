using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary><c>AddAgentIdentityIssuer(IConfiguration)</c>: every option (and the nested audit options) binds, lists replace their
/// defaults, and errors name the full configuration key.</summary>
public sealed class IssuerConfigurationTests
{
    [Fact]
    public void AddAgentIdentityIssuer_Configuration_BindsEveryOptionAndTheAuditSection()
    {
        var options = Options(new()
        {
            ["AgentIdentityIssuer:TrustDomain"] = "example.org",
            ["AgentIdentityIssuer:KeyEncryptionIterations"] = "200000",
            ["AgentIdentityIssuer:CertificateAuthorityLifetime"] = "30.00:00:00",
            ["AgentIdentityIssuer:MaxSvidLifetime"] = "00:30:00",
            ["AgentIdentityIssuer:MaxJoinTokenLifetime"] = "00:10:00",
            ["AgentIdentityIssuer:OperatorIds:0"] = "spiffe://example.org/agent/ops/*",
            ["AgentIdentityIssuer:RateLimitPermits"] = "10",
            ["AgentIdentityIssuer:RateLimitIPv4PrefixLength"] = "24",
            ["AgentIdentityIssuer:RenewalAfterExpiryGrace"] = "01:00:00",
            ["AgentIdentityIssuer:SupersededRenewal"] = "AllowAndAlert",
            ["AgentIdentityIssuer:ServerDnsNames:0"] = "issuer.example.org",
            ["AgentIdentityIssuer:Audit:Directory"] = "/var/lib/issuer/audit",
            ["AgentIdentityIssuer:Audit:ReplicaId"] = "replica-1",
            ["AgentIdentityIssuer:Audit:FlushMode"] = "EveryAppend",
        });

        Assert.Equal("example.org", options.TrustDomain);
        Assert.Equal(200_000, options.KeyEncryptionIterations);
        Assert.Equal(TimeSpan.FromDays(30), options.CertificateAuthorityLifetime);
        Assert.Equal(TimeSpan.FromMinutes(30), options.MaxSvidLifetime);
        Assert.Equal(TimeSpan.FromMinutes(10), options.MaxJoinTokenLifetime);
        Assert.Equal(["spiffe://example.org/agent/ops/*"], options.OperatorIds);
        Assert.Equal(10, options.RateLimitPermits);
        Assert.Equal(24, options.RateLimitIPv4PrefixLength);
        Assert.Equal(TimeSpan.FromHours(1), options.RenewalAfterExpiryGrace);
        Assert.Equal(SupersededRenewalPolicy.AllowAndAlert, options.SupersededRenewal);
        Assert.Equal(["issuer.example.org"], options.ServerDnsNames); // replaces the default "localhost"
        Assert.Equal("/var/lib/issuer/audit", options.Audit.Directory);
        Assert.Equal("replica-1", options.Audit.ReplicaId);
        Assert.Equal(Audit.AuditFlushMode.EveryAppend, options.Audit.FlushMode);
    }

    [Theory]
    [InlineData("AgentIdentityIssuer:MaxSvidLifeTme", "00:10:00", "Unknown configuration key 'AgentIdentityIssuer:MaxSvidLifeTme'")]
    [InlineData("AgentIdentityIssuer:Audit:Directry", "/tmp", "Unknown configuration key 'AgentIdentityIssuer:Audit:Directry'")]
    [InlineData("AgentIdentityIssuer:RateLimitPermits", "ten", "'ten' at 'AgentIdentityIssuer:RateLimitPermits'")]
    [InlineData("AgentIdentityIssuer:RateLimitPermits", "0", "(configuration key 'AgentIdentityIssuer:RateLimitPermits')")]
    [InlineData("AgentIdentityIssuer:OperatorIds:0", "spiffe://other.org/ops", "AgentIdentityIssuerOptions.OperatorIds")]
    public void AddAgentIdentityIssuer_BadConfiguration_FailsNamingTheKey(string key, string value, string expected)
    {
        var ex = Assert.ThrowsAny<Exception>(() => Options(new() { ["AgentIdentityIssuer:TrustDomain"] = "example.org", [key] = value }));

        Assert.True(ex is InvalidOperationException or OptionsValidationException, ex.ToString()); // binder errors, rule violations
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    private static AgentIdentityIssuerOptions Options(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddAgentIdentityIssuer(configuration.GetSection("AgentIdentityIssuer"));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<AgentIdentityIssuerOptions>>().Value;
    }
}
