using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Kestrel helpers that make endpoints require agent client certificates and serve the service's own SVID.</summary>
public static partial class AgentIdentityKestrelExtensions
{
    /// <summary>
    /// Requires a client certificate on the HTTPS endpoints configured with these options, accepts any certificate at the TLS
    /// layer and leaves validation to the AgentIdentity authentication handler (which chains it to the SPIFFE trust bundle, so
    /// the machine trust store is never consulted). The intermediates the client presents are kept for the handler.
    /// </summary>
    /// <param name="options">The HTTPS options of one or more endpoints.</param>
    /// <returns>The options.</returns>
    /// <remarks>A client that presents no certificate fails the TLS handshake. Never use this on an endpoint without the
    /// AgentIdentity scheme (or another scheme that validates the certificate) in front of every endpoint.</remarks>
    public static HttpsConnectionAdapterOptions RequireAgentClientCertificate(this HttpsConnectionAdapterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ClientCertificateMode = ClientCertificateMode.RequireCertificate;

        // Kestrel owns the SslStream's validation callback here; it hands us the client's certificate and the chain it built
        // (whose extra store holds what the client presented). Accept everything; the handler validates.
        options.ClientCertificateValidation = static (certificate, chain, _) =>
        {
            PresentedIntermediates.Capture(certificate, chain);
            return true;
        };
        return options;
    }

    /// <summary>Requires agent client certificates on every HTTPS endpoint of the server (see
    /// <see cref="RequireAgentClientCertificate(HttpsConnectionAdapterOptions)"/>).</summary>
    /// <param name="options">The Kestrel options.</param>
    /// <returns>The options.</returns>
    public static KestrelServerOptions RequireAgentClientCertificates(this KestrelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ConfigureHttpsDefaults(static https => https.RequireAgentClientCertificate());
        return options;
    }

    /// <summary>
    /// Serves HTTPS on this endpoint with the service's own X.509-SVID from <paramref name="serverSvid"/> (leaf and
    /// intermediates, following every rotation without a restart) and, unless disabled, requires agent client certificates.
    /// </summary>
    /// <param name="listenOptions">The endpoint.</param>
    /// <param name="serverSvid">The source of the service's SVID, e.g. an <see cref="AgentCredential"/>.</param>
    /// <param name="requireClientCertificate"><see langword="true"/> (the default) to require a client certificate.</param>
    /// <returns>The endpoint.</returns>
    /// <remarks>New connections get the newest SVID; established connections keep the certificate they were opened with.</remarks>
    public static ListenOptions UseAgentIdentityHttps(this ListenOptions listenOptions, IX509SvidSource serverSvid, bool requireClientCertificate = true)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(serverSvid);
        var contexts = new ConditionalWeakTable<X509Svid, SslStreamCertificateContext>();
        var protocols = listenOptions.Protocols switch
        {
            HttpProtocols.Http1 => new List<SslApplicationProtocol> { SslApplicationProtocol.Http11 },
            HttpProtocols.Http2 => [SslApplicationProtocol.Http2],
            _ => [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        };
        return listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context =>
            {
                var svid = serverSvid.GetCurrent();
                var certificateContext = contexts.GetValue(svid, static s => SslStreamCertificateContext.Create(s.Certificate, [.. s.Intermediates], offline: true));
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = certificateContext,
                    ClientCertificateRequired = requireClientCertificate,
                    RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    {
                        if (certificate is null)
                        {
                            return !requireClientCertificate;
                        }

                        PresentedIntermediates.Capture(certificate, chain);
                        return true;
                    },
                    ApplicationProtocols = protocols,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                });
            },
        });
    }
}
