using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Tests.DependencyInjection;

/// <summary><c>AddAgent(name, configure)</c>: agents declared in DI, each with its own options, created and awaited by the host.</summary>
public sealed class AddAgentTests
{
    private static readonly AgentPolicy PlannerPolicy = new(services: ["spiffe://example.org/svc/*"], actions: ["invoices:read"], tools: ["Erp.GetInvoice", "Clock.*"]);
    private static readonly AgentPolicy ResearcherPolicy = new(tools: ["Clock.*"]);
    private readonly ObservableTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    private HostApplicationBuilder CreateBuilder()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development });
        builder.Services.AddSingleton<TimeProvider>(_time);
        return builder;
    }

    [Fact]
    public async Task AddAgent_TwoAgents_DistinctIdentitiesWithTheirOwnPolicyAndLifetime()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority()
            .AddAgent("planner", o => o.Policy = PlannerPolicy)
            .AddAgent("researcher", o =>
            {
                o.Policy = ResearcherPolicy;
                o.Lifetime = TimeSpan.FromMinutes(10);
            });
        using var host = builder.Build();

        await host.StartAsync();

        // Ready when StartAsync returns: GetCurrent() would throw if the first SVID did not exist yet.
        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner").GetCurrent();
        var researcher = host.Services.GetRequiredKeyedService<IX509SvidSource>("researcher").GetCurrent();
        Assert.Matches("^spiffe://example.org/agent/planner/[a-z2-7]{26}$", planner.Id.ToString());
        Assert.Matches("^spiffe://example.org/agent/researcher/[a-z2-7]{26}$", researcher.Id.ToString());
        Assert.Equal(PlannerPolicy, planner.Policy);
        Assert.Equal(ResearcherPolicy, researcher.Policy);
        Assert.InRange(planner.NotAfter - _time.GetUtcNow(), TimeSpan.FromHours(1) - TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));
        Assert.InRange(researcher.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(10) - TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10));
        Assert.Same(host.Services.GetRequiredKeyedService<AgentCredential>("researcher"), host.Services.GetRequiredKeyedService<IX509SvidSource>("researcher"));
        await host.StopAsync();
    }

    [Fact]
    public async Task AddAgent_StartsFromTheSharedCredentialDefaults()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
            {
                o.TrustDomain = "example.org";
                o.Credential.Lifetime = TimeSpan.FromMinutes(20);
                o.Credential.Policy = ResearcherPolicy;
            })
            .UseDevelopmentCertificateAuthority()
            .AddAgent("planner", o => o.Policy = PlannerPolicy)
            .AddAgent("auditor");
        using var host = builder.Build();
        await host.StartAsync();

        var planner = host.Services.GetRequiredKeyedService<AgentCredential>("planner").GetCurrent();
        var auditor = host.Services.GetRequiredKeyedService<AgentCredential>("auditor").GetCurrent();

        Assert.Equal(PlannerPolicy, planner.Policy);
        Assert.InRange(planner.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(20) - TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(20));
        Assert.Equal(ResearcherPolicy, auditor.Policy);
        await host.StopAsync();
    }

    [Fact]
    public async Task AddAgent_SameNameTwice_FailsAtStartNamingTheAgent()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority()
            .AddAgent("planner", o => o.Policy = PlannerPolicy)
            .AddAgent("planner", o => o.Policy = ResearcherPolicy);
        using var host = builder.Build();

        // The host validates every option set on start and aggregates the failures: the agent options read the shared ones.
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        var failures = ex is AggregateException aggregate ? [.. aggregate.InnerExceptions] : new[] { ex };
        Assert.All(failures, f => Assert.IsType<OptionsValidationException>(f));
        Assert.Contains(failures, f => f.Message.Contains("AddAgent(\"planner\") is called 2 times; declare each agent once", StringComparison.Ordinal));
        // Outside a host the same rule guards the credential itself.
        var resolve = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredKeyedService<AgentCredential>("planner"));
        Assert.Contains("AddAgent(\"planner\")", resolve.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgent_InvalidOptions_FailsAtStartNamingTheAgentAndTheOption()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority()
            .AddAgent("planner")
            .AddAgent("researcher", o => o.RenewalFraction = 0.95);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("The field researcher.RenewalFraction must be between 0.1 and 0.9.", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("planner", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAgent_InvalidName_ThrowsAtTheCall()
    {
        var identity = new ServiceCollection().AddAgentIdentity(o => o.TrustDomain = "example.org");

        var ex = Assert.Throws<FormatException>(() => identity.AddAgent("bad/name"));

        Assert.Contains("Agent name 'bad/name' is invalid", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Factory_DeclaredAgent_NewInstancesGetItsOptions_UndeclaredGetTheDefaults()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority()
            .AddAgent("planner", o => o.Policy = PlannerPolicy);
        using var host = builder.Build();
        await host.StartAsync();
        var factory = host.Services.GetRequiredService<IAgentCredentialFactory>();

        await using var second = await factory.CreateAsync("planner");
        await using var worker = await factory.CreateAsync("worker");

        Assert.Equal(PlannerPolicy, second.GetCurrent().Policy);
        Assert.NotEqual(host.Services.GetRequiredKeyedService<AgentCredential>("planner").Id, second.Id);
        Assert.Null(worker.GetCurrent().Policy);
        await host.StopAsync();
    }

    [Fact]
    public void AddAgentIdentity_CalledTwiceWithAgents_RegistersTheCoreOnceAndOneMarkerPerAgent()
    {
        var services = new ServiceCollection();
        services.AddAgentIdentity(o => o.TrustDomain = "example.org").AddAgent("planner");
        services.AddAgentIdentity().AddAgent("researcher");

        Assert.Single(services, d => d.ServiceType == typeof(IHostedService));
        Assert.Single(services, d => d.ServiceType == typeof(IAgentCredentialFactory));
        Assert.Equal(2, services.Count(d => d.ServiceType == typeof(AgentRegistration)));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<AgentIdentityOptions>));
    }
}
