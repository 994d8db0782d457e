using Microsoft.AspNetCore.Http;

namespace AgentIdentity.AspNetCore;

/// <summary>The authenticated agent caller of a request, set by the AgentIdentity handler.</summary>
public interface IAgentCallerFeature
{
    /// <summary>Gets the validated caller.</summary>
    AgentCaller Caller { get; }

    /// <summary>Gets the validated, certificate-bound access token, or <see langword="null"/> when none was presented.</summary>
    AccessTokenValidationResult? AccessToken { get; }
}

internal sealed class AgentCallerFeature(AgentCaller caller, AccessTokenValidationResult? accessToken, IAgentCertificatePolicyEvaluator policyEvaluator) : IAgentCallerFeature
{
    public AgentCaller Caller { get; } = caller;

    public AccessTokenValidationResult? AccessToken { get; } = accessToken;

    public IAgentCertificatePolicyEvaluator PolicyEvaluator { get; } = policyEvaluator;
}

/// <summary>Reads the agent caller of a request.</summary>
public static class AgentCallerHttpContextExtensions
{
    /// <summary>Gets the agent caller the AgentIdentity handler authenticated for this request.</summary>
    /// <param name="context">The request.</param>
    /// <returns>The caller, or <see langword="null"/> when the request was not authenticated by AgentIdentity.</returns>
    public static AgentCaller? GetAgentCaller(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<IAgentCallerFeature>()?.Caller;
    }
}

/// <summary>Intermediates presented with the client certificate, for hosts other than Kestrel (and in-process tests).</summary>
internal sealed class AgentTlsChainFeature
{
    public System.Security.Cryptography.X509Certificates.X509Certificate2[]? Intermediates { get; set; }
}
