using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Core;
using OpenIddict.EntityFrameworkCore.Models;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AgentIdentity.Testing;

/// <summary>The tests' OpenIddict authorization server: real OpenIddict 7.8 (EF Core in-memory store) on the shared Kestrel host with mTLS, issuing RFC 8705 certificate-bound
/// access tokens to agents by client credentials over mTLS: tls_client_auth (PKI, SPIFFE URI SAN matched by the application manager override
/// described in DOTNET.md §7), or, when started with the agent's certificate, self_signed_tls_client_auth (the certificate registered in the
/// client's key set; <see cref="RegisterClientCertificateAsync"/> adds the next one on rotation).</summary>
public sealed class OpenIddictAuthorizationServer : IAsyncDisposable
{
    public const string ClientId = "planner";
    public const string Scope = "invoices:read";
    public const string Audience = "erp";

    private readonly TestHost _host;

    private OpenIddictAuthorizationServer(TestHost host, Uri issuer, SecurityKey signingKey, ConcurrentQueue<(string Path, string Thumbprint)> requests)
    {
        _host = host;
        Issuer = issuer;
        SigningKey = signingKey;
        TokenRequests = requests;
    }

    public Uri Issuer { get; }

    public SecurityKey SigningKey { get; }

    /// <summary>Gets the token endpoint path hit and the client certificate presented, per token request.</summary>
    public ConcurrentQueue<(string Path, string Thumbprint)> TokenRequests { get; }

    /// <param name="selfSignedClientCertificate">When set, the server runs self_signed_tls_client_auth only (no PKI method) and registers this
    /// certificate in the client's key set.</param>
    /// <param name="revocations">The revocations the token exchange enforces (<see cref="DelegatedExchangeEndpoint"/>); <see langword="null"/> for none.</param>
    public static async Task<OpenIddictAuthorizationServer> StartAsync(
        TestPki pki,
        TimeSpan accessTokenLifetime,
        string clientSpiffePattern = "spiffe://example.org/agent/planner/*",
        bool bindTokens = true,
        X509Certificate2? selfSignedClientCertificate = null,
        RevocationSet? revocations = null)
    {
        var (certificate, intermediates) = pki.IssueServer("/svc/as");
        var issuerHolder = new IssuerHolder();
        var signingKey = new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "as-signing" };
        var requests = new ConcurrentQueue<(string, string)>();

        var builder = TestHost.CreateBuilder(listen => listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ServerCertificateChain = intermediates,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (_, _, _) => true, // OpenIddict applies its own per-client policy (DOTNET.md §7).
        }));
        if (Environment.GetEnvironmentVariable("AGENTID_TEST_AS_LOG") == "1")
        {
            builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug);
        }

        builder.Services.AddSingleton(pki);
        if (revocations is not null)
        {
            builder.Services.AddSingleton(revocations);
        }
        var database = "as-" + Guid.NewGuid().ToString("N");
        builder.Services.AddDbContext<AuthorizationDbContext>(o =>
        {
            o.UseInMemoryDatabase(database);
            o.UseOpenIddict();
        });
        builder.Services.AddOpenIddict()
            .AddCore(o =>
            {
                o.UseEntityFrameworkCore().UseDbContext<AuthorizationDbContext>();
                o.ReplaceApplicationManager(typeof(SpiffeApplicationManager<>));
            })
            .AddServer(o =>
            {
                o.SetTokenEndpointUris("connect/token", "mtls/connect/token");
                o.AllowClientCredentialsFlow().AllowTokenExchangeFlow();
                o.AddEventHandler<OpenIddictServerEvents.ValidateTokenContext>(handler => handler
                    .UseInlineHandler(DelegatedExchangeEndpoint.ValidateSubjectToken)
                    .SetOrder(OpenIddictServerHandlers.Protection.ValidateProofOfPossession.Descriptor.Order - 1)
                    .SetType(OpenIddictServerHandlerType.Custom));
                if (selfSignedClientCertificate is null)
                {
                    o.EnablePublicKeyInfrastructureTlsClientAuthentication([pki.Ca.RootCertificate]);
                }
                else
                {
                    o.EnableSelfSignedTlsClientAuthentication();
                }
                if (bindTokens)
                {
                    o.UseClientCertificateBoundAccessTokens();
                }

                o.RegisterScopes(Scope);
                o.SetAccessTokenLifetime(accessTokenLifetime);
                o.AddSigningKey(signingKey);
                o.AddEphemeralEncryptionKey();
                o.DisableAccessTokenEncryption();
                o.UseAspNetCore().EnableTokenEndpointPassthrough();
            });
        // The port is known only once Kestrel listens; OpenIddict reads its options at the first request.
        builder.Services.Configure<OpenIddictServerOptions>(o =>
        {
            o.Issuer = issuerHolder.Issuer;
            o.MtlsTokenEndpointAliasUri = new Uri(issuerHolder.Issuer!, "mtls/connect/token");
        });

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/connect/token") || context.Request.Path.StartsWithSegments("/mtls/connect/token"))
            {
                var cert = context.Connection.ClientCertificate;
                requests.Enqueue((context.Request.Path.Value!, cert is null ? "none" : TestPki.Sha256Hex(cert)));
            }

            await next(context);
        });
        app.UseAuthentication();
        app.MapPost("/connect/token", (Delegate)IssueToken);
        app.MapPost("/mtls/connect/token", (Delegate)IssueToken);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
            var descriptor = new OpenIddictApplicationDescriptor
            {
                ClientId = ClientId,
                ClientType = ClientTypes.Confidential,
                JsonWebKeySet = new JsonWebKeySet(),
                Permissions = { Permissions.Endpoints.Token, Permissions.GrantTypes.ClientCredentials, Permissions.GrantTypes.TokenExchange, Permissions.Prefixes.Scope + Scope },
            };
            // A certificate-only client registers its issuing CA (PKI) or its own certificate (self-signed), never a dummy secret.
            descriptor.JsonWebKeySet.Keys.Add(ToJsonWebKey(selfSignedClientCertificate ?? pki.Ca.IntermediateCertificate));
            descriptor.Properties[SpiffeApplicationManager<OpenIddictEntityFrameworkCoreApplication>.SpiffeIdProperty] = JsonSerializer.SerializeToElement(clientSpiffePattern);
            await manager.CreateAsync(descriptor);
        }

        var host = await TestHost.StartAsync(app);
        issuerHolder.Issuer = host.Address;
        return new OpenIddictAuthorizationServer(host, host.Address, signingKey, requests);
    }

    /// <summary>What a deployment does when the agent rotates in self-signed mode: adds the new certificate to the client's key set
    /// (populate, change, update through the application manager; the server keeps running). Earlier certificates stay registered.</summary>
    public async Task RegisterClientCertificateAsync(X509Certificate2 certificate)
    {
        await using var scope = _host.Services.CreateAsyncScope();
        var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        var application = await manager.FindByClientIdAsync(ClientId) ?? throw new InvalidOperationException($"client '{ClientId}' is not registered");
        var descriptor = new OpenIddictApplicationDescriptor();
        await manager.PopulateAsync(descriptor, application);
        descriptor.JsonWebKeySet ??= new JsonWebKeySet();
        descriptor.JsonWebKeySet.Keys.Add(ToJsonWebKey(certificate));
        await manager.UpdateAsync(application, descriptor);
    }

    /// <summary>An EC public key with the certificate in x5c (OpenIddict's default policy reads x5c of RSA keys only; the manager override reads it whatever the key type).</summary>
    private static JsonWebKey ToJsonWebKey(X509Certificate2 certificate)
    {
        var key = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(new ECDsaSecurityKey(certificate.GetECDsaPublicKey()!));
        key.X5c.Add(Convert.ToBase64String(certificate.RawData));
        return key;
    }

    private static async Task<IResult> IssueToken(HttpContext context)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenIddict request");
        if (request.IsTokenExchangeGrantType())
        {
            return await DelegatedExchangeEndpoint.HandleAsync(context, request, Audience);
        }

        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, request.ClientId);
        identity.SetScopes(request.GetScopes());
        identity.SetAudiences(Audience);
        identity.SetDestinations(static _ => [Destinations.AccessToken]);
        return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    /// <summary>Takes the authorization server down (connections refused from now on).</summary>
    public Task StopAsync() => _host.StopAsync();

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private sealed class IssuerHolder
    {
        public Uri? Issuer { get; set; }
    }
}

public sealed class AuthorizationDbContext(DbContextOptions<AuthorizationDbContext> options) : DbContext(options);

/// <summary>DOTNET.md §7: in PKI mode OpenIddict matches DNS/IP SANs or the CN against redirect URIs and never looks at URI SANs. This
/// override verifies the chain with the SDK's SPIFFE validator and matches the SPIFFE ID recorded for the client. In self-signed mode
/// OpenIddict trusts only the x5c of kty=RSA keys; the override trusts x5c[0] of every signing key, on the test's clock.</summary>
public sealed class SpiffeApplicationManager<TApplication>(
    IOpenIddictApplicationCache<TApplication> cache,
    ILogger<OpenIddictApplicationManager<TApplication>> logger,
    IOptionsMonitor<OpenIddictCoreOptions> options,
    IOpenIddictApplicationStore<TApplication> store,
    TestPki pki) : OpenIddictApplicationManager<TApplication>(cache, logger, options, store)
    where TApplication : class
{
    public const string SpiffeIdProperty = "spiffe_id";

    public override async ValueTask<bool> ValidatePublicKeyInfrastructureTlsClientCertificateAsync(
        TApplication application, X509Certificate2 certificate, X509ChainPolicy policy, CancellationToken cancellationToken = default)
    {
        var properties = await GetPropertiesAsync(application, cancellationToken);
        if (!properties.TryGetValue(SpiffeIdProperty, out var pattern) || pattern.ValueKind != JsonValueKind.String)
        {
            return false;
        }

        var result = X509SvidValidator.Validate(certificate, [.. policy.ExtraStore, pki.Ca.IntermediateCertificate], pki.Ca, pki.Time.GetUtcNow());
        return result.IsValid && PeerAuthorizers.Pattern(pattern.GetString()!)(result.Id, result.VerifiedChain).IsAllowed;
    }

    public override async ValueTask<X509ChainPolicy?> GetSelfSignedTlsClientAuthenticationPolicyAsync(
        TApplication application, X509ChainPolicy policy, CancellationToken cancellationToken = default)
    {
        policy = policy.Clone();
        policy.VerificationTime = pki.Time.GetUtcNow().UtcDateTime;
        var keys = await GetJsonWebKeySetAsync(application, cancellationToken);
        foreach (var key in keys?.Keys ?? [])
        {
            if (key.X5c.Count > 0 && (string.IsNullOrEmpty(key.Use) || key.Use == JsonWebKeyUseNames.Sig))
            {
                policy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(key.X5c[0])));
            }
        }

        return policy;
    }
}
