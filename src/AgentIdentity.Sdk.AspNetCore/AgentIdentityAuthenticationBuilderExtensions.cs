using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the AgentIdentity authentication scheme.</summary>
public static class AgentIdentityAuthenticationBuilderExtensions
{
    /// <summary>Adds the AgentIdentity scheme (<see cref="AgentIdentityAuthenticationDefaults.AuthenticationScheme"/>), which
    /// authenticates agent callers by their X.509-SVID client certificate.</summary>
    /// <param name="builder">The authentication builder.</param>
    /// <param name="configure">Configures the options; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Kestrel must request client certificates: use <c>ListenOptions.UseAgentIdentityHttps(...)</c> or
    /// <c>HttpsConnectionAdapterOptions.RequireAgentClientCertificate()</c>. Trust bundles, the revocation checker, the
    /// certificate-policy evaluator and the access-token validator default to the services registered in DI.</remarks>
    public static AuthenticationBuilder AddAgentIdentity(this AuthenticationBuilder builder, Action<AgentIdentityAuthenticationOptions>? configure = null) =>
        builder.AddAgentIdentity(AgentIdentityAuthenticationDefaults.AuthenticationScheme, configure);

    /// <summary>Adds an AgentIdentity scheme with the name <paramref name="authenticationScheme"/>.</summary>
    /// <param name="builder">The authentication builder.</param>
    /// <param name="authenticationScheme">The scheme name.</param>
    /// <param name="configure">Configures the options; may be <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static AuthenticationBuilder AddAgentIdentity(this AuthenticationBuilder builder, string authenticationScheme, Action<AgentIdentityAuthenticationOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(authenticationScheme);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<AgentIdentityAuthenticationOptions>, AgentIdentityPostConfigureOptions>());
        // The scheme's options are validated when the host starts (AuthenticationSchemeOptions.Validate runs with them), so that an
        // unsafe configuration (forwarded certificates without bound tokens) refuses to start instead of failing its first request.
        builder.Services.AddOptions<AgentIdentityAuthenticationOptions>(authenticationScheme).ValidateOnStart();
        return builder.AddScheme<AgentIdentityAuthenticationOptions, AgentIdentityAuthenticationHandler>(authenticationScheme, configure);
    }
}

internal sealed class AgentIdentityPostConfigureOptions(IServiceProvider services) : IPostConfigureOptions<AgentIdentityAuthenticationOptions>
{
    private const int DefaultPolicyCacheSize = 1024;

    public void PostConfigure(string? name, AgentIdentityAuthenticationOptions options)
    {
        options.TimeProvider ??= services.GetService<TimeProvider>();
        options.TrustBundleSource ??= services.GetService<ITrustBundleSource>();
        options.RevocationChecker ??= services.GetService<IAgentRevocationChecker>();
        options.CertificatePolicyEvaluator ??= services.GetService<IAgentCertificatePolicyEvaluator>();
        options.AccessTokens.Validator ??= services.GetService<IAccessTokenValidator>();
        options.Cache ??= options.ValidationCacheSize > 0 ? new AgentCallerCache(options.ValidationCacheSize) : null;
        // Single flight per certificate is a defence (one computation however many requests present it), so it stays on when the
        // validation cache is disabled.
        options.PolicyCache ??= new AgentCallerPolicyCache(options.ValidationCacheSize > 0 ? options.ValidationCacheSize : DefaultPolicyCacheSize);
        options.HonouredPolicyTrustDomains = ResolvePolicyTrustDomains(options);
    }

    /// <summary>The explicit list; else the service's own trust domain (its AgentIdentity options); else the only bundle's; else none.</summary>
    private TrustDomain[] ResolvePolicyTrustDomains(AgentIdentityAuthenticationOptions options)
    {
        if (options.PolicyTrustDomains.Count > 0)
        {
            return [.. options.PolicyTrustDomains.Distinct()];
        }

        if (services.GetService<IOptions<AgentIdentityOptions>>()?.Value.TrustDomain is { } own && TrustDomain.TryParse(own, out var ownDomain))
        {
            return [ownDomain];
        }

        return options.TrustBundleSource is TrustBundleSet { Bundles.Count: 1 } only ? [only.Bundles.First().TrustDomain] : [];
    }
}
