using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AgentIdentity.Testing;

/// <summary>
/// A hand-made authorization server on the shared Kestrel host (TLS with a dev-CA certificate): RFC 8414 metadata, a JWKS, and an RFC 7662
/// introspection endpoint. Tokens are minted by the test with a run-time ECDSA key, with any claims, issuer or binding (the resource
/// server's rejections need tokens that <see cref="OpenIddictAuthorizationServer"/> would never issue).
/// </summary>
public sealed class TestAuthorizationServer : IAsyncDisposable
{
    public const string Audience = "spiffe://corp.example/svc/erp";
    public const string IntrospectionClientId = "erp";
    public const string IntrospectionSecret = "run-time-secret";

    private readonly TestHost _host;
    private readonly ECDsa _key;
    private readonly ECDsaSecurityKey _signingKey;
    private readonly X509Svid _tlsCertificate;
    private readonly ConcurrentDictionary<string, Dictionary<string, object>> _introspection = new();

    private TestAuthorizationServer(TestHost host, ECDsa key, ECDsaSecurityKey signingKey, X509Svid tls, ConcurrentDictionary<string, Dictionary<string, object>> introspection)
    {
        _host = host;
        _key = key;
        _signingKey = signingKey;
        _tlsCertificate = tls;
        _introspection = introspection;
        Issuer = host.LocalhostAddress.ToString();
    }

    public string Issuer { get; }

    public Uri MetadataAddress => new(Issuer + ".well-known/oauth-authorization-server");

    public Uri IntrospectionEndpoint => new(Issuer + "introspect");

    public static async Task<TestAuthorizationServer> StartAsync(TestPki pki)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signingKey = new ECDsaSecurityKey(key) { KeyId = Guid.NewGuid().ToString("N") };
        var tls = pki.IssueSvid(pki.Ca, "spiffe://corp.example/svc/as", dnsNames: ["localhost"]);
        var introspection = new ConcurrentDictionary<string, Dictionary<string, object>>();
        var builder = TestHost.CreateBuilder(lo => lo.UseHttps(h =>
        {
            h.ServerCertificate = tls.Certificate;
            h.ServerCertificateChain = [.. tls.Intermediates];
        }), development: true);
        var app = builder.Build();
        string? issuer = null;
        app.MapGet("/.well-known/oauth-authorization-server", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = issuer!,
            ["jwks_uri"] = issuer + "jwks",
            ["introspection_endpoint"] = issuer + "introspect",
            ["tls_client_certificate_bound_access_tokens"] = true,
        }));
        app.MapGet("/jwks", () =>
        {
            var jwk = JsonWebKeyConverter.ConvertFromECDsaSecurityKey(signingKey);
            return Results.Json(new { keys = new[] { new { kty = jwk.Kty, crv = jwk.Crv, x = jwk.X, y = jwk.Y, kid = jwk.Kid, use = "sig", alg = "ES256" } } });
        });
        app.MapPost("/introspect", async (HttpContext context) =>
        {
            var expected = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{IntrospectionClientId}:{IntrospectionSecret}"));
            if (context.Request.Headers.Authorization != expected)
            {
                return Results.Unauthorized();
            }

            var form = await context.Request.ReadFormAsync();
            return introspection.TryGetValue(form["token"].ToString(), out var response)
                ? Results.Json(response)
                : Results.Json(new Dictionary<string, object> { ["active"] = false });
        });
        var server = new TestAuthorizationServer(await TestHost.StartAsync(app), key, signingKey, tls, introspection);
        issuer = server.Issuer;
        return server;
    }

    /// <summary>An HttpClient for the resource server's backchannel that trusts this server's dev-CA certificate.</summary>
    public static HttpClient CreateBackchannel(ITrustBundleSource trust) => new(new SocketsHttpHandler
    {
        SslOptions =
        {
            RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                cert is X509Certificate2 leaf &&
                X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], trust, DateTimeOffset.UtcNow).IsValid,
        },
    });

    public static string Thumbprint(X509Certificate2 certificate) => Base64UrlEncoder.Encode(SHA256.HashData(certificate.RawData));

    /// <summary>Mints a signed at+jwt access token.</summary>
    public string CreateToken(string? boundThumbprint, string scope = "invoices:read", string? audience = Audience, TimeSpan? lifetime = null, string? issuer = null)
    {
        var claims = new Dictionary<string, object>
        {
            ["sub"] = "spiffe://corp.example/agent/planner/1",
            ["client_id"] = "planner",
            ["scope"] = scope,
        };
        if (boundThumbprint is not null)
        {
            claims["cnf"] = new Dictionary<string, object> { ["x5t#S256"] = boundThumbprint };
        }

        var now = DateTime.UtcNow;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            Claims = claims,
            IssuedAt = now,
            NotBefore = now.AddMinutes(-1),
            Expires = now + (lifetime ?? TimeSpan.FromMinutes(5)),
            TokenType = "at+jwt",
            SigningCredentials = new SigningCredentials(_signingKey, SecurityAlgorithms.EcdsaSha256),
        };
        return new JsonWebTokenHandler().CreateToken(descriptor);
    }

    /// <summary>Registers an opaque token for introspection.</summary>
    public string RegisterOpaqueToken(string? boundThumbprint, string scope = "invoices:read", bool active = true)
    {
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var response = new Dictionary<string, object> { ["active"] = active, ["scope"] = scope, ["aud"] = Audience, ["client_id"] = "planner", ["sub"] = "planner" };
        if (boundThumbprint is not null)
        {
            response["cnf"] = new Dictionary<string, object> { ["x5t#S256"] = boundThumbprint };
        }

        _introspection[token] = response;
        return token;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _key.Dispose();
    }
}
