using AgentIdentity.AspNetCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity.AspNetCore.Tests.Revocation;

/// <summary>Issue 19 §2: <c>AddAgentIdentityRevocationFeed(IConfiguration)</c> binds the service-side feed options, the signer from a
/// certificate file; every error names the full key.</summary>
public sealed class AgentRevocationFeedConfigurationTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "ai-feed-config-" + Guid.NewGuid().ToString("N"));

    public AgentRevocationFeedConfigurationTests() => Directory.CreateDirectory(_directory);

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private Dictionary<string, string?> Good(bool pem)
    {
        var path = Path.Combine(_directory, pem ? "signer.pem" : "signer.der");
        if (pem)
        {
            File.WriteAllText(path, _pki.Ca.RootCertificate.ExportCertificatePem());
        }
        else
        {
            File.WriteAllBytes(path, _pki.Ca.RootCertificate.RawData);
        }

        return new()
        {
            ["Feed:FeedUri"] = "https://issuer.corp.example/agent-identity/revocation/feed",
            ["Feed:SignerCertificatePath"] = path,
            ["Feed:TrustDomain"] = "corp.example",
            ["Feed:GracePeriod"] = "00:01:00",
            ["Feed:FailurePolicy"] = "FailOpen",
            ["Feed:Subscriber:MaxReconnectDelay"] = "00:00:20",
        };
    }

    private static AgentRevocationFeedOptions Resolve(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentityRevocationFeed(configuration.GetSection("Feed"));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<AgentRevocationFeedOptions>>().Value;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FromConfiguration_BindsEveryKey_AndLoadsTheSignerFromPemOrDer(bool pem)
    {
        var options = Resolve(Good(pem));

        Assert.Equal(new Uri("https://issuer.corp.example/agent-identity/revocation/feed"), options.FeedUri);
        Assert.Equal(_pki.Ca.RootCertificate.RawData, options.SignerCertificate!.RawData);
        Assert.Equal("corp.example", options.TrustDomain);
        Assert.Equal(TimeSpan.FromMinutes(1), options.GracePeriod);
        Assert.Equal(RevocationFeedFailurePolicy.FailOpen, options.FailurePolicy);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Subscriber.MaxReconnectDelay);
    }

    [Theory]
    [InlineData("Feed:SignerCertificate", "x", "'Feed:SignerCertificate'")]
    [InlineData("Feed:Subscriber:ReconectDelay", "00:00:01", "'Feed:Subscriber:ReconectDelay'")]
    public void UnknownKey_FailsNamingTheFullKey(string key, string value, string expected)
    {
        var values = Good(pem: true);
        values[key] = value;
        var ex = Assert.Throws<InvalidOperationException>(() => Resolve(values));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnreadableSignerCertificate_FailsNamingTheKeyAndThePath()
    {
        var values = Good(pem: true);
        var missing = Path.Combine(_directory, "missing.pem");
        values["Feed:SignerCertificatePath"] = missing;
        var ex = Assert.Throws<InvalidOperationException>(() => Resolve(values));
        Assert.Contains("configuration key 'Feed:SignerCertificatePath'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);

        File.WriteAllText(missing, "not a certificate");
        ex = Assert.Throws<InvalidOperationException>(() => Resolve(values));
        Assert.Contains("cannot be read", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RelativeFeedUri_FailsNamingTheKey()
    {
        var values = Good(pem: true);
        values["Feed:FeedUri"] = "/revocation/feed";
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(values));
        Assert.Contains("configuration key 'Feed:FeedUri'", ex.Message, StringComparison.Ordinal);
    }
}
