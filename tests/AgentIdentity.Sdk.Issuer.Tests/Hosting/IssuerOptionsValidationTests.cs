using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer.Tests.Hosting;

/// <summary>The source-generated validator and rules of <see cref="AgentIdentityIssuerOptions"/>.</summary>
public sealed class IssuerOptionsValidationTests
{
    public static TheoryData<Action<AgentIdentityIssuerOptions>, string> BadOptions => new()
    {
        { o => o.TrustDomain = null, "AgentIdentityIssuerOptions.TrustDomain is required: the trust domain the CA is constrained to, for example 'example.org'." },
        { o => o.TrustDomain = "Example.Org", "AgentIdentityIssuerOptions.TrustDomain 'Example.Org' is invalid:" },
        { o => o.KeyEncryptionIterations = 99_999, "AgentIdentityIssuerOptions.KeyEncryptionIterations must be at least 100000; it is 99999." },
        { o => o.AdminApiKey = "too-short", "AgentIdentityIssuerOptions.AdminApiKey must be at least 32 characters." },
        { o => o.MaxSvidLifetime = TimeSpan.Zero, "AgentIdentityIssuerOptions.MaxSvidLifetime must be positive; it is 00:00:00." },
        { o => o.MaxJoinTokenLifetime = TimeSpan.FromMinutes(-1), "AgentIdentityIssuerOptions.MaxJoinTokenLifetime must be positive; it is -00:01:00." },
        { o => o.CertificateAuthorityLifetime = TimeSpan.FromHours(1), "AgentIdentityIssuerOptions.CertificateAuthorityLifetime (01:00:00) must be longer than MaxSvidLifetime (01:00:00)." },
        { o => o.RateLimitPermits = 0, "AgentIdentityIssuerOptions.RateLimitPermits must be at least 1; it is 0." },
        { o => o.RateLimitWindow = TimeSpan.Zero, "AgentIdentityIssuerOptions.RateLimitWindow must be positive; it is 00:00:00." },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void AgentIdentityIssuer_BadOption_ThrowsTheSpecificMessage(Action<AgentIdentityIssuerOptions> breakIt, string message)
    {
        var database = Path.Combine(Path.GetTempPath(), "ai-issuer-" + Guid.NewGuid().ToString("N") + ".db");
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAgentIdentityIssuer(o =>
        {
            o.TrustDomain = "example.org";
            o.KeyEncryptionKey = IssuerHost.Kek;
            o.KeyEncryptionIterations = 100_000;
            breakIt(o);
        }).UseSqlite(database);
        InvalidOperationException ex;
        using (var provider = services.BuildServiceProvider())
        {
            ex = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<AgentIdentityIssuer>());
        }

        File.Delete(database);

        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("too-short", ex.Message, StringComparison.Ordinal);
    }
}
