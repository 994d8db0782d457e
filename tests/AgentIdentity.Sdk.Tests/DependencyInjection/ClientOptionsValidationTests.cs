using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Tests.DependencyInjection;

/// <summary>The source-generated validators and rules of the issuer client and revocation feed subscriber options.</summary>
public sealed class ClientOptionsValidationTests
{
    private static readonly TrustDomain Td = TrustDomain.Parse("example.org");

    public static TheoryData<Action<IssuerClientOptions>, string> BadIssuerClientOptions => new()
    {
        { o => o.Address = null, "IssuerClientOptions.Address is required (the issuer's https:// base address)." },
        { o => o.Address = new Uri("http://issuer.example/"), "IssuerClientOptions.Address 'http://issuer.example/' must be an absolute https:// URI." },
        { o => o.Timeout = TimeSpan.Zero, "IssuerClientOptions.Timeout must be positive; it is 00:00:00." },
        { o => o.ServerId = SpiffeId.Parse("spiffe://example.org/agent-identity/issuer"), "IssuerClientOptions.ServerTrustBundle is required to validate the issuer's SVID 'spiffe://example.org/agent-identity/issuer'." },
    };

    [Theory]
    [MemberData(nameof(BadIssuerClientOptions))]
    public void UseIssuer_BadOptions_ThrowsTheSpecificMessage(Action<IssuerClientOptions> breakIt, string message)
    {
        var builder = new ServiceCollection().AddAgentIdentity(o => o.TrustDomain = "example.org");

        var ex = Assert.Throws<ArgumentException>(() => builder.UseIssuer(new Uri("https://issuer.example/"), "join-token", breakIt));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IssuerClient_BundleOfAnotherTrustDomain_ThrowsNamingBoth()
    {
        using var ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("other.example"));
        var options = new IssuerClientOptions
        {
            Address = new Uri("https://issuer.example/"),
            ServerId = SpiffeId.Parse("spiffe://example.org/agent-identity/issuer"),
            ServerTrustBundle = ca.Bundle,
        };

        var ex = Assert.ThrowsAny<ArgumentException>(() => new IssuerClient(options));

        Assert.Contains("IssuerClientOptions.ServerTrustBundle is for trust domain 'other.example' but the issuer's ID 'spiffe://example.org/agent-identity/issuer' is not.", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Action<RevocationFeedSubscriberOptions>, string> BadSubscriberOptions => new()
    {
        { o => o.ReconnectDelay = TimeSpan.Zero, "RevocationFeedSubscriberOptions.ReconnectDelay must be positive; it is 00:00:00." },
        { o => o.IdleTimeout = TimeSpan.FromSeconds(-1), "RevocationFeedSubscriberOptions.IdleTimeout must be positive; it is -00:00:01." },
        { o => o.MaxReconnectDelay = TimeSpan.FromMilliseconds(50), "RevocationFeedSubscriberOptions.MaxReconnectDelay (00:00:00.0500000) must be at least ReconnectDelay (00:00:00.1000000)." },
    };

    [Theory]
    [MemberData(nameof(BadSubscriberOptions))]
    public void RevocationFeedSubscriber_BadOptions_ThrowsTheSpecificMessage(Action<RevocationFeedSubscriberOptions> breakIt, string message)
    {
        using var ca = DevelopmentCertificateAuthority.Create(Td);
        using var http = new HttpClient();
        var options = new RevocationFeedSubscriberOptions();
        breakIt(options);

        var ex = Assert.Throws<ArgumentException>(() => new RevocationFeedSubscriber(http, new Uri("https://issuer.example/revocation/feed"), new RevocationFeedVerifier(ca.RootCertificate, Td), new RevocationSet(), options));

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }
}
