using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentIdentity.Tests.DependencyInjection;

/// <summary>The source-generated validators and configuration binding of <see cref="AgentIdentityOptions"/> and <see cref="AgentCredentialOptions"/>.</summary>
public sealed class AgentIdentityOptionsTests
{
    private readonly ObservableTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));

    public static TheoryData<Action<AgentCredentialOptions>, string> BadCredentialOptions => new()
    {
        { o => o.Lifetime = TimeSpan.FromSeconds(4), "The field AgentIdentityOptions.Credential.Lifetime must be between 00:00:05 and 7.00:00:00." },
        { o => o.Lifetime = TimeSpan.FromDays(8), "The field AgentIdentityOptions.Credential.Lifetime must be between 00:00:05 and 7.00:00:00." },
        { o => o.KeyAlgorithm = (KeyAlgorithm)42, "AgentIdentityOptions.Credential.KeyAlgorithm" },
        { o => o.RenewalFraction = 0.05, "The field AgentIdentityOptions.Credential.RenewalFraction must be between 0.1 and 0.9." },
        { o => o.RenewalJitter = double.NaN, "The field AgentIdentityOptions.Credential.RenewalJitter must be between 0 and 0.5." },
        { o => o.DegradedThreshold = 1, "The field AgentIdentityOptions.Credential.DegradedThreshold must be between 0 exclusive and 1 exclusive." },
        { o => o.RetryBaseDelay = TimeSpan.Zero, "AgentIdentityOptions.Credential.RetryBaseDelay must be positive and no longer than RetryMaxDelay; they are 00:00:00 and 00:00:30." },
        { o => o.RetryMaxDelay = TimeSpan.FromMilliseconds(10), "AgentIdentityOptions.Credential.RetryBaseDelay must be positive and no longer than RetryMaxDelay; they are 00:00:01 and 00:00:00.0100000." },
    };

    [Theory]
    [MemberData(nameof(BadCredentialOptions))]
    public async Task StartAsync_BadCredentialDefault_FailsWithTheSpecificMessage(Action<AgentCredentialOptions> breakIt, string message)
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(o =>
        {
            o.TrustDomain = "example.org";
            o.AgentName = "planner";
            breakIt(o.Credential);
        }).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal(typeof(AgentIdentityOptions), ex.OptionsType);
    }

    [Fact]
    public void Validators_ValidDefaults_Pass()
    {
        var options = new AgentIdentityOptions { TrustDomain = "example.org", AgentName = "planner" };

        Assert.True(new AgentIdentityOptionsValidator().Validate(null, options).Succeeded);
        Assert.True(new AgentIdentityOptionsRules([]).Validate(null, options).Succeeded);
        Assert.Null(options.Credential.Validate());
    }

    [Fact]
    public void CredentialOptions_OutsideDependencyInjection_AllRulesRunAndNameEachProblem()
    {
        var options = new AgentCredentialOptions { RenewalFraction = 2, RetryBaseDelay = TimeSpan.FromSeconds(-1) };

        var error = options.Validate();

        Assert.Contains("The field AgentCredentialOptions.RenewalFraction must be between 0.1 and 0.9.", error, StringComparison.Ordinal);
        Assert.Contains("AgentCredentialOptions.RetryBaseDelay must be positive", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentity_Configuration_BindsEveryCoreOption()
    {
        var configuration = Configuration(new()
        {
            ["AgentIdentity:TrustDomain"] = "example.org",
            ["AgentIdentity:AgentName"] = "planner",
            ["AgentIdentity:Credential:Lifetime"] = "00:20:00",
            ["AgentIdentity:Credential:KeyAlgorithm"] = "EcdsaP384",
            ["AgentIdentity:Credential:RenewalFraction"] = "0.6",
            ["AgentIdentity:Credential:RenewalJitter"] = "0",
            ["AgentIdentity:Credential:RetryBaseDelay"] = "00:00:02",
            ["AgentIdentity:Credential:RetryMaxDelay"] = "00:01:00",
            ["AgentIdentity:Credential:DegradedThreshold"] = "0.3",
            ["AgentIdentity:Credential:Policy:Tools:0"] = "Clock.*",
            ["AgentIdentity:Credential:Policy:Actions:0"] = "invoices:read",
        });
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(configuration.GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        await host.StartAsync();

        var options = host.Services.GetRequiredService<IOptions<AgentIdentityOptions>>().Value;
        Assert.Equal("example.org", options.TrustDomain);
        Assert.Equal("planner", options.AgentName);
        Assert.Equal(KeyAlgorithm.EcdsaP384, options.Credential.KeyAlgorithm);
        Assert.Equal(0.6, options.Credential.RenewalFraction);
        Assert.Equal(0, options.Credential.RenewalJitter);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Credential.RetryBaseDelay);
        Assert.Equal(TimeSpan.FromMinutes(1), options.Credential.RetryMaxDelay);
        Assert.Equal(0.3, options.Credential.DegradedThreshold);
        var svid = host.Services.GetRequiredService<AgentCredential>().GetCurrent();
        Assert.Equal(new AgentPolicy(actions: ["invoices:read"], tools: ["Clock.*"]), svid.Policy);
        Assert.InRange(svid.NotAfter - _time.GetUtcNow(), TimeSpan.FromMinutes(20) - TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(20));
        using var key = svid.Certificate.GetECDsaPublicKey();
        Assert.Equal(384, key?.KeySize);
        await host.StopAsync();
    }

    [Fact]
    public void AddAgentIdentity_ConfigurationThenCode_CodeWinsInCallOrder()
    {
        var services = new ServiceCollection();
        services.AddAgentIdentity(Configuration(new() { ["TrustDomain"] = "example.org", ["AgentName"] = "planner" }));
        services.AddAgentIdentity(o => o.AgentName = "writer");
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<AgentIdentityOptions>>().Value;

        Assert.Equal("example.org", options.TrustDomain);
        Assert.Equal("writer", options.AgentName);
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationValueThatDoesNotConvert_FailsNamingTheKey()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(Configuration(new()
        {
            ["AgentIdentity:TrustDomain"] = "example.org",
            ["AgentIdentity:Credential:Lifetime"] = "one hour",
        }).GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("'one hour' at 'AgentIdentity:Credential:Lifetime'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationWithUnknownKey_FailsNamingTheKey()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(Configuration(new()
        {
            ["AgentIdentity:TrustDomain"] = "example.org",
            ["AgentIdentity:Credential:Lifetme"] = "00:10:00",
        }).GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("AgentCredentialOptions: 'Lifetme'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddAgentIdentity_ConfigurationValueOutOfRange_FailsValidationNamingTheOption()
    {
        var builder = CreateBuilder();
        builder.Services.AddAgentIdentity(Configuration(new()
        {
            ["AgentIdentity:TrustDomain"] = "Example.org",
            ["AgentIdentity:Credential:Lifetime"] = "30.00:00:00",
        }).GetSection("AgentIdentity")).UseDevelopmentCertificateAuthority();
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("AgentIdentityOptions.TrustDomain 'Example.org' is invalid", ex.Message, StringComparison.Ordinal);
        Assert.Contains("The field AgentIdentityOptions.Credential.Lifetime must be between 00:00:05 and 7.00:00:00.", ex.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private HostApplicationBuilder CreateBuilder()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development });
        builder.Services.AddSingleton<TimeProvider>(_time);
        return builder;
    }
}
