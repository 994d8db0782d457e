using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Tests.DependencyInjection;

public sealed class AddAgentIdentityTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly ObservableTimeProvider _time = new(Start);

    private HostApplicationBuilder CreateBuilder(string environment = "Development")
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = environment });
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddMetrics();
        return builder;
    }

    [Fact]
    public async Task StartAsync_DefaultAgent_IsReadyBeforeTheAppProceeds()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
        }).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        await host.StartAsync();

        var credential = host.Services.GetRequiredService<AgentCredential>();
        var svid = credential.GetCurrent();
        Assert.Matches("^spiffe://example.org/agent/planner/[a-z2-7]{26}$", svid.Id.ToString());
        Assert.Same(credential, host.Services.GetRequiredService<IX509SvidSource>());
        Assert.Same(svid, host.Services.GetRequiredService<IX509SvidSource>().GetCurrent());
        await host.StopAsync();
    }

    [Fact]
    public async Task AddAgent_KeyedAgents_EachGetTheirOwnIdentity()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org")
            .UseDevelopmentCertificateAuthority()
            .AddAgent("researcher")
            .AddAgent("writer");
        using var host = builder.Build();
        await host.StartAsync();

        var researcher = host.Services.GetRequiredKeyedService<AgentCredential>("researcher").GetCurrent();
        var writer = host.Services.GetRequiredKeyedService<IX509SvidSource>("writer").GetCurrent();
        Assert.True(researcher.Id.TryGetAgent(out var r, out _));
        Assert.True(writer.Id.TryGetAgent(out var w, out _));
        Assert.Equal("researcher", r);
        Assert.Equal("writer", w);
        Assert.NotEqual(researcher.SerialNumber, writer.SerialNumber);
        Assert.Equal(2, host.Services.GetRequiredService<IAgentCredentialFactory>().Credentials.Count());
        await host.StopAsync();
    }

    [Fact]
    public async Task Factory_ManyInstances_EachHaveDistinctIdentity()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseDevelopmentCertificateAuthority();
        using var host = builder.Build();
        var factory = host.Services.GetRequiredService<IAgentCredentialFactory>();

        var credentials = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => factory.CreateAsync("worker")));

        Assert.Equal(50, credentials.Select(c => c.Id).Distinct().Count());
        Assert.Equal(50, credentials.Select(c => c.GetCurrent().SerialNumber).Distinct().Count());
        Assert.All(credentials, c => Assert.True(c.Id.IsMemberOf(factory.TrustDomain)));
        await credentials[0].DisposeAsync();
        Assert.Equal(49, factory.Credentials.Count());
    }

    [Fact]
    public void AddAgentIdentity_CalledTwice_RegistersOnceAndAppliesBothConfigurations()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentity(o => o.TrustDomain = "example.org").UseDevelopmentCertificateAuthority();
        services.AddAgentIdentity(o => o.AgentName = "planner").UseDevelopmentCertificateAuthority();

        Assert.Single(services, d => d.ServiceType == typeof(IAgentCredentialFactory));
        Assert.Single(services, d => d.ServiceType == typeof(IX509SvidIssuer));
        Assert.Single(services, d => d.ServiceType == typeof(IHostedService));
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<AgentIdentityOptions>>().Value;
        Assert.Equal("example.org", options.TrustDomain);
        Assert.Equal("planner", options.AgentName);
    }

    [Theory]
    [InlineData(null, null, "AgentIdentityOptions.TrustDomain is required, for example 'example.org'.")]
    [InlineData("Example.org", null, "AgentIdentityOptions.TrustDomain 'Example.org' is invalid: trust domain characters are limited")]
    [InlineData("example.org", "bad/name", "AgentIdentityOptions.AgentName 'bad/name' is invalid")]
    public async Task StartAsync_InvalidOptions_FailsAtStartupNamingTheSetting(string? trustDomain, string? agentName, string message)
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = trustDomain;
            o.AgentName = agentName;
        }).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_InvalidCredentialLifetime_FailsAtStartup()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.Credential.Lifetime = TimeSpan.FromDays(30);
        }).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("AgentIdentityOptions.Credential.Lifetime must be between 00:00:05 and 7.00:00:00", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseDevelopmentCertificateAuthority_InProduction_RefusesToStart()
    {
        var builder = CreateBuilder(Environments.Production);
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
        }).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("refuses to run in the Production environment", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UseDevelopmentCertificateAuthority_InProductionWithExplicitOptIn_StartsAndWarns()
    {
        var builder = CreateBuilder(Environments.Production);
        var logs = new FakeLoggerProvider();
        builder.Logging.AddProvider(logs);
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
        }).UseDevelopmentCertificateAuthority(o => o.AllowInProduction = true);
        using var host = builder.Build();

        await host.StartAsync();

        Assert.Contains(logs.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("DEVELOPMENT CERTIFICATE AUTHORITY", StringComparison.Ordinal));
        await host.StopAsync();
    }

    [Fact]
    public async Task StartAsync_NoIssuer_FailsWithActionableMessage()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("UseDevelopmentCertificateAuthority()", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthCheck_ReportsHealthyThenDegradedThenUnhealthy()
    {
        var builder = CreateBuilder();
        var issuerDown = false;
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
            o.Credential.RenewalJitter = 0;
            o.Credential.RetryMaxDelay = TimeSpan.FromMinutes(10);
        }).UseDevelopmentCertificateAuthority();
        builder.Services.AddSingleton<IX509SvidIssuer>(sp => new ToggleIssuer(sp.GetRequiredService<DevelopmentCertificateAuthority>(), () => issuerDown));
        using var host = builder.Build();
        await host.StartAsync();
        await _time.NextTimerAsync();
        var check = host.Services.GetRequiredService<AgentIdentityHealthCheck>();
        var notAfter = host.Services.GetRequiredService<AgentCredential>().GetCurrent().NotAfter;

        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        issuerDown = true;
        _time.Advance(TimeSpan.FromMinutes(30));
        while (_time.GetUtcNow() < notAfter - TimeSpan.FromMinutes(14))
        {
            _time.Advance(await _time.NextTimerAsync());
        }

        var degraded = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("renewal is failing", degraded.Description, StringComparison.Ordinal);

        while (_time.GetUtcNow() < notAfter)
        {
            _time.Advance(await _time.NextTimerAsync());
        }

        var unhealthy = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Contains("has no valid SVID", unhealthy.Description, StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task Metrics_CountRotationsAndFailuresAndReportSecondsToExpiry()
    {
        var builder = CreateBuilder();
        var issuerDown = false;
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
            o.Credential.RenewalJitter = 0;
        }).UseDevelopmentCertificateAuthority();
        builder.Services.AddSingleton<IX509SvidIssuer>(sp => new ToggleIssuer(sp.GetRequiredService<DevelopmentCertificateAuthority>(), () => issuerDown));
        using var host = builder.Build();
        var meterFactory = host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var rotations = new MetricCollector<long>(meterFactory, AgentIdentityMetrics.MeterName, "agentidentity.svid.rotations");
        using var failures = new MetricCollector<long>(meterFactory, AgentIdentityMetrics.MeterName, "agentidentity.svid.renewal_failures");
        using var expiry = new MetricCollector<double>(meterFactory, AgentIdentityMetrics.MeterName, "agentidentity.svid.time_to_expiry");
        await host.StartAsync();
        await _time.NextTimerAsync();

        issuerDown = true;
        _time.Advance(TimeSpan.FromMinutes(30));
        _time.Advance(await _time.NextTimerAsync());
        await _time.NextTimerAsync();

        expiry.RecordObservableInstruments();
        Assert.Equal(1, rotations.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(2, failures.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal("planner", rotations.LastMeasurement!.Tags["agentidentity.agent.name"]);
        Assert.Equal(typeof(CertificateIssuanceException).FullName, failures.LastMeasurement!.Tags["error.type"]);
        Assert.InRange(expiry.LastMeasurement!.Value, 29 * 60 - 5, 30 * 60);
        await host.StopAsync();
    }

    private sealed class ToggleIssuer(IX509SvidIssuer inner, Func<bool> isDown) : IX509SvidIssuer
    {
        public ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default) =>
            isDown() ? ValueTask.FromException<X509SvidIssuance>(new CertificateIssuanceException("CA unreachable.")) : inner.IssueAsync(request, cancellationToken);
    }
}
