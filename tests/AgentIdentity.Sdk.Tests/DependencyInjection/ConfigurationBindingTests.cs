using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Tools;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Tests.DependencyInjection;

/// <summary>Binding from configuration: agents and policies under <c>AgentIdentity</c>, the tool guard and the revocation
/// subscription, and errors that name the full configuration key.</summary>
public sealed class ConfigurationBindingTests
{
    private readonly ObservableTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task AddAgentIdentity_Agents_DeclaresEachAgentWithItsPolicyOverTheCredentialDefaults()
    {
        var builder = CreateBuilder(new()
        {
            ["AgentIdentity:TrustDomain"] = "example.org",
            ["AgentIdentity:Credential:Lifetime"] = "00:20:00",
            ["AgentIdentity:Credential:Policy:tools:0"] = "Clock.*",
            ["AgentIdentity:Agents:planner:Policy:services:0"] = "spiffe://example.org/svc/*",
            ["AgentIdentity:Agents:planner:Policy:actions:0"] = "invoices:read",
            ["AgentIdentity:Agents:planner:Policy:tools:0"] = "Erp.GetInvoice",
            ["AgentIdentity:Agents:planner:Policy:delegationTargets:0"] = "spiffe://example.org/agent/planner/*",
            ["AgentIdentity:Agents:planner:Policy:maxDelegationDepth"] = "2",
            ["AgentIdentity:Agents:researcher:KeyAlgorithm"] = "EcdsaP384",
        });
        builder.Services.AddAgentIdentity(builder.Configuration.GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority()
            .AddAgent("researcher", o => o.Lifetime = TimeSpan.FromMinutes(5)); // code adjusts the configured agent
        using var host = builder.Build();

        await host.StartAsync();

        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner").GetCurrent();
        Assert.Equal(
            new AgentPolicy(["spiffe://example.org/svc/*"], ["invoices:read"], ["Erp.GetInvoice"], 2, ["spiffe://example.org/agent/planner/*"]),
            planner.Policy);
        Assert.InRange(planner.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(19), TimeSpan.FromMinutes(20));
        var researcher = host.Services.GetRequiredKeyedService<AgentCredential>("researcher").GetCurrent();
        Assert.Equal(new AgentPolicy(tools: ["Clock.*"]), researcher.Policy); // from Credential:Policy
        Assert.InRange(researcher.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
        using var key = researcher.Certificate.GetECDsaPublicKey();
        Assert.Equal(384, key?.KeySize);
        await host.StopAsync();
    }

    [Fact]
    public async Task AddAgentIdentity_ConfiguredPolicy_ReplacesAPolicySetInCodeBefore()
    {
        var builder = CreateBuilder(new() { ["AgentIdentity:TrustDomain"] = "example.org", ["AgentIdentity:AgentName"] = "planner", ["AgentIdentity:Credential:Policy:tools:0"] = "Clock.*" });
        builder.Services.AddAgentIdentity(o => o.Credential.Policy = new AgentPolicy(tools: ["Erp.*"]));
        builder.Services.AddAgentIdentity(builder.Configuration.GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        await host.StartAsync();

        Assert.Equal(new AgentPolicy(tools: ["Clock.*"]), host.Services.GetRequiredService<AgentCredential>().GetCurrent().Policy);
        await host.StopAsync();
    }

    public static TheoryData<string, string, string> BadKeys => new()
    {
        { "AgentIdentity:Credential:Lifetme", "00:10:00", "Unknown configuration key 'AgentIdentity:Credential:Lifetme'" },
        { "AgentIdentity:Credential:Policy:Tolls:0", "Clock.*", "Unknown configuration key 'AgentIdentity:Credential:Policy:Tolls'" },
        { "AgentIdentity:Agents:planner:Policy:taskId", "t1", "Unknown configuration key 'AgentIdentity:Agents:planner:Policy:taskId'" },
        { "AgentIdentity:Agents:planner:Policy:Tools:0", "Erp.Get*", "Configuration key 'AgentIdentity:Agents:planner:Policy:Tools:0': the tools pattern 'Erp.Get*' is invalid" },
        { "AgentIdentity:Agents:planner:Policy:actions:1", "invoices read", "Configuration key 'AgentIdentity:Agents:planner:Policy:actions:1': the actions pattern" },
        { "AgentIdentity:Agents:planner:Policy:delegationTargets:0", "spiffe://Example.org/agent/*", "Configuration key 'AgentIdentity:Agents:planner:Policy:delegationTargets:0'" },
        { "AgentIdentity:Agents:planner:Policy:maxDelegationDepth", "9", "Configuration key 'AgentIdentity:Agents:planner:Policy:maxDelegationDepth': the delegation depth 9 must be between 0 and 8." },
        { "AgentIdentity:Agents:planner:Policy:tools", "Erp.*", "Configuration key 'AgentIdentity:Agents:planner:Policy:tools' holds the single value 'Erp.*'; it must be a list" },
        { "AgentIdentity:Agents:planner:RenewalFraction", "2", "(configuration key 'AgentIdentity:Agents:planner:RenewalFraction')" },
        { "AgentIdentity:Credential:RenewalFraction", "2", "(configuration key 'AgentIdentity:Credential:RenewalFraction')" },
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public async Task AddAgentIdentity_BadConfiguration_FailsAtStartNamingTheFullKey(string key, string value, string expected)
    {
        var builder = CreateBuilder(new()
        {
            ["AgentIdentity:TrustDomain"] = "example.org",
            ["AgentIdentity:Agents:planner:Policy:actions:0"] = "invoices:read",
            [key] = value,
        });
        builder.Services.AddAgentIdentity(builder.Configuration.GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        // Several start-up validators that fail together come as an AggregateException, whose message holds each one's.
        Assert.True(ex is InvalidOperationException or OptionsValidationException or AggregateException, ex.ToString());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAgentIdentity_InvalidAgentName_FailsAtRegistrationNamingTheKey()
    {
        var configuration = Configuration(new() { ["AgentIdentity:Agents:Planner!:Lifetime"] = "00:10:00" });

        var ex = Assert.Throws<FormatException>(() => new ServiceCollection().AddAgentIdentity(configuration.GetSection("AgentIdentity")));

        Assert.StartsWith("Configuration key 'AgentIdentity:Agents:Planner!': Agent name 'Planner!' is invalid", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToolCallGuardOptions_Bind_SetsTheConfiguredKeysOnly()
    {
        var options = new ToolCallGuardOptions { RecordArgumentValues = true };
        options.ToolActions["Clock.Now"] = "clock:read";

        options.Bind(Configuration(new()
        {
            ["ToolGuard:ToolActions:Erp.GetInvoice"] = "invoices:read",
            ["ToolGuard:TerminateOnKillSwitch"] = "false",
        }).GetSection("ToolGuard"));

        Assert.Equal("invoices:read", options.ToolActions["Erp.GetInvoice"]);
        Assert.Equal("clock:read", options.ToolActions["Clock.Now"]);
        Assert.False(options.TerminateOnKillSwitch);
        Assert.True(options.RecordArgumentValues);
        Assert.False(options.AllowWithoutCertificatePolicy);
    }

    [Theory]
    [InlineData("ToolGuard:LocalPolicy", "x", "Unknown configuration key 'ToolGuard:LocalPolicy'")]
    [InlineData("ToolGuard:ToolActions:Erp.*", "invoices:read", "Configuration key 'ToolGuard:ToolActions:Erp.*': the tool name 'Erp.*' is invalid")]
    [InlineData("ToolGuard:ToolActions:Erp.GetInvoice", "invoices:*", "Configuration key 'ToolGuard:ToolActions:Erp.GetInvoice': the action 'invoices:*' is invalid")]
    [InlineData("ToolGuard:RecordArgumentValues", "maybe", "'maybe' at 'ToolGuard:RecordArgumentValues'")]
    public void ToolCallGuardOptions_BindBadConfiguration_FailsNamingTheKey(string key, string value, string expected)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new ToolCallGuardOptions().Bind(Configuration(new() { [key] = value }).GetSection("ToolGuard")));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseRevocationFeed_Configuration_BindsTheSubscriptionAndItsSubscriber()
    {
        var services = new ServiceCollection();
        services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseRevocationFeed(Configuration(new()
        {
            ["Revocation:FeedUri"] = "https://issuer.example.org/revocation/feed",
            ["Revocation:ServerId"] = "spiffe://example.org/agent-identity/issuer",
            ["Revocation:GracePeriod"] = "00:01:00",
            ["Revocation:Subscriber:IdleTimeout"] = "00:00:45",
        }).GetSection("Revocation"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<AgentRevocationSubscriptionOptions>>().Value;

        Assert.Equal(new Uri("https://issuer.example.org/revocation/feed"), options.FeedUri);
        Assert.Equal("spiffe://example.org/agent-identity/issuer", options.ServerId);
        Assert.Equal(TimeSpan.FromMinutes(1), options.GracePeriod);
        Assert.Equal(TimeSpan.FromSeconds(45), options.Subscriber.IdleTimeout);
    }

    [Theory]
    [InlineData("Revocation:SignerCertificate", "cert.pem", "Unknown configuration key 'Revocation:SignerCertificate'")]
    [InlineData("Revocation:Subscriber:IdleTimout", "00:00:10", "Unknown configuration key 'Revocation:Subscriber:IdleTimout'")]
    [InlineData("Revocation:FeedUri", "http://issuer.example.org/feed", "(configuration key 'Revocation:FeedUri')")]
    [InlineData("Revocation:ServerId", "spiffe://Example.org/issuer", "(configuration key 'Revocation:ServerId')")]
    [InlineData("Revocation:Subscriber:MaxReconnectDelay", "00:00:00.010", "(configuration key 'Revocation:Subscriber:MaxReconnectDelay')")]
    public async Task UseRevocationFeed_BadConfiguration_FailsAtStartNamingTheKey(string key, string value, string expected)
    {
        var builder = CreateBuilder(new() { [key] = value });
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseDevelopmentCertificateAuthority()
            .UseRevocationFeed(builder.Configuration.GetSection("Revocation"));
        using var host = builder.Build();

        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.True(ex is InvalidOperationException or OptionsValidationException, ex.ToString());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private HostApplicationBuilder CreateBuilder(Dictionary<string, string?> values)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development });
        builder.Configuration.AddInMemoryCollection(values);
        builder.Services.AddSingleton<TimeProvider>(_time);
        return builder;
    }
}
