using System.Net;
using AgentIdentity.AspNetCore.Tests.TestInfrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentIdentity.AspNetCore.Tests.Authentication;

/// <summary>The source-generated validators and rules of the authentication scheme and revocation feed options.</summary>
public sealed class OptionsValidationTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    public static TheoryData<Action<AgentIdentityAuthenticationOptions>, string> BadAuthenticationOptions => new()
    {
        { o => o.ClockSkew = TimeSpan.FromMinutes(11), "AgentIdentityAuthenticationOptions.ClockSkew must be between 00:00:00 and 00:10:00." },
        { o => o.ClockSkew = TimeSpan.FromSeconds(-1), "AgentIdentityAuthenticationOptions.ClockSkew must be between 00:00:00 and 00:10:00." },
        { o => o.ValidationCacheSize = -1, "AgentIdentityAuthenticationOptions.ValidationCacheSize must be at least 0; it is -1." },
        { o => o.TrustBundleSource = null, "AgentIdentity authentication has no trust bundle: set AgentIdentityAuthenticationOptions.TrustBundleSource, or register an ITrustBundleSource" },
        { o => o.AccessTokens.Mode = AgentAccessTokenMode.Required, "AgentIdentity access tokens are 'Required' but no validator is set" },
        { o => o.CertificateForwarding.Enabled = true, "AgentIdentity certificate forwarding is enabled but no trusted proxy is configured" },
        {
            o =>
            {
                o.CertificateForwarding.Enabled = true;
                o.CertificateForwarding.KnownProxies.Add(IPAddress.Loopback);
                o.CertificateForwarding.HeaderName = " ";
            },
            "AgentIdentity certificate forwarding is enabled but CertificateForwarding.HeaderName is empty."
        },
    };

    [Theory]
    [MemberData(nameof(BadAuthenticationOptions))]
    public void AuthenticationOptionsValidate_BadOption_ThrowsTheSpecificMessage(Action<AgentIdentityAuthenticationOptions> breakIt, string message)
    {
        var options = new AgentIdentityAuthenticationOptions { TrustBundleSource = _pki.Bundles };
        options.Validate();
        breakIt(options);

        var ex = Assert.Throws<InvalidOperationException>(options.Validate);

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Action<AgentRevocationFeedOptions>, string> BadFeedOptions => new()
    {
        { o => o.FeedUri = null, "AgentRevocationFeedOptions.FeedUri is required: the absolute URI of the issuer's revocation feed." },
        { o => o.FeedUri = new Uri("/revocation/feed", UriKind.Relative), "AgentRevocationFeedOptions.FeedUri '/revocation/feed' must be an absolute URI of the issuer's revocation feed." },
        { o => o.SignerCertificate = null, "AgentRevocationFeedOptions.SignerCertificate (the issuing CA certificate) is required to verify feed entries." },
        { o => o.TrustDomain = null, "AgentRevocationFeedOptions.TrustDomain is required: the trust domain whose feed this is" },
        { o => o.TrustDomain = "Corp.Example", "AgentRevocationFeedOptions.TrustDomain 'Corp.Example' is invalid:" },
        { o => o.GracePeriod = TimeSpan.Zero, "AgentRevocationFeedOptions.GracePeriod must be positive; it is 00:00:00." },
    };

    [Theory]
    [MemberData(nameof(BadFeedOptions))]
    public void AddAgentIdentityRevocationFeed_BadOption_FailsWithTheSpecificMessage(Action<AgentRevocationFeedOptions> breakIt, string message)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentityRevocationFeed(o =>
        {
            o.FeedUri = new Uri("https://issuer.corp.example/revocation/feed");
            o.SignerCertificate = _pki.Ca.RootCertificate;
            o.TrustDomain = "corp.example";
            breakIt(o);
        });
        using var provider = services.BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<AgentRevocationFeedService>());

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }
}
