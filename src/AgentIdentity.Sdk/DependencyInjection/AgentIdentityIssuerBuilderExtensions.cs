using AgentIdentity;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Configures <see cref="IAgentIdentityBuilder"/> to obtain SVIDs from the AgentIdentity issuer service.</summary>
public static partial class AgentIdentityBuilderExtensions
{
    /// <summary>
    /// Uses the issuer service at <paramref name="address"/>: the first SVID is obtained with <paramref name="joinToken"/>,
    /// then renewed over mTLS with the current SVID.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="address">The issuer's https:// base address.</param>
    /// <param name="joinToken">The one-time join token for the first enrollment.</param>
    /// <param name="configure">Sets the server validation (<see cref="IssuerClientOptions.ServerId"/> and
    /// <see cref="IssuerClientOptions.ServerTrustBundle"/>, else Web PKI) and the recovery callback.</param>
    /// <returns>The builder.</returns>
    /// <remarks>Replaces any issuer registered before.</remarks>
    public static IAgentIdentityBuilder UseIssuer(this IAgentIdentityBuilder builder, Uri address, string joinToken, Action<IssuerClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentException.ThrowIfNullOrEmpty(joinToken);
        var options = new IssuerClientOptions { Address = address, JoinToken = joinToken };
        configure?.Invoke(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(configure));
        }

        builder.Services.RemoveAll<IX509SvidIssuer>();
        builder.Services.TryAddSingleton(sp => new IssuerClient(options, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<IX509SvidIssuer>(sp => sp.GetRequiredService<IssuerClient>());
        return builder;
    }
}
