using System.Net.Security;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel HTTPS for the embedded AgentIdentity issuer service.</summary>
public static class AgentIdentityIssuerListenOptionsExtensions
{
    /// <summary>Serves HTTPS with the issuer's own server SVID (<see cref="AgentIdentityIssuer.ServerId"/>, renewed at half-life,
    /// intermediates included) and asks clients for a certificate without requiring one: renewal and delegation authenticate
    /// with it, enrollment and the bundle endpoint do not.</summary>
    /// <param name="listenOptions">The Kestrel listen options.</param>
    /// <returns>The listen options.</returns>
    public static ListenOptions UseAgentIdentityIssuerHttps(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        return listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context =>
            {
                var issuer = listenOptions.ApplicationServices.GetRequiredService<AgentIdentityIssuer>();
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = issuer.GetServerCertificateContext(),
                    ClientCertificateRequired = true,
#pragma warning disable CA5359 // This is the server asking for an optional client certificate; each endpoint validates it against the issuer's own bundle.
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
                    AllowTlsResume = false,
                });
            },
        });
    }
}
