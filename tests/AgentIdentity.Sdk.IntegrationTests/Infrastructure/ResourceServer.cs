using System.Collections.Concurrent;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenIddict.Abstractions;
using OpenIddict.Validation.AspNetCore;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>A resource server ("erp") on Kestrel mTLS that validates the bound access tokens with OpenIddict validation (which enforces
/// cnf.x5t#S256 against the TLS client certificate by itself) and records, per request carrying a token (before validation), the certificate and the token's cnf.</summary>
internal static class ResourceServer
{
    /// <param name="validateClient">The TLS client certificate check; the default requires an X.509-SVID of the test CA. With self-signed
    /// agents the handshake accepts the certificate and the token's cnf binding (checked by OpenIddict validation) authenticates it.</param>
    public static Task<MtlsTestServer> StartAsync(
        TestPki pki,
        OpenIddictAuthorizationServer authorizationServer,
        ConcurrentQueue<(string CertificateX5t, string TokenX5t)> seen,
        Func<X509Certificate2, X509Chain?, bool>? validateClient = null) =>
        MtlsTestServer.StartAsync(
            pki,
            validateClient: validateClient,
            configureBuilder: builder =>
            {
                builder.Services.AddOpenIddict().AddValidation(o =>
                {
                    o.SetIssuer(authorizationServer.Issuer);
                    o.AddAudiences(OpenIddictAuthorizationServer.Audience);
                    var configuration = new OpenIddictConfiguration { Issuer = authorizationServer.Issuer };
                    configuration.SigningKeys.Add(authorizationServer.SigningKey);
                    o.SetConfiguration(configuration);
                    o.UseAspNetCore();
                });
                builder.Services.AddAuthentication(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme);
                builder.Services.AddAuthorization();
            },
            configureApp: app =>
            {
                // Recorded before authentication, so that a token sent with the wrong certificate is seen even though it is rejected.
                app.Use(async (context, next) =>
                {
                    if (context.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.Ordinal))
                    {
                        var cert = context.Connection.ClientCertificate!;
                        seen.Enqueue((Base64Url.EncodeToString(SHA256.HashData(cert.RawData)), TokenX5t(context.Request.Headers.Authorization.ToString())));
                    }

                    await next(context);
                });
                app.UseAuthentication();
                app.UseAuthorization();
                app.MapGet("/api/whoami", (HttpContext context) =>
                {
                    return TestPki.Sha256Hex(context.Connection.ClientCertificate!);
                }).RequireAuthorization();
                // Who the validated token says acts for whom: its sub and its RFC 8693 act claim (raw JSON), and the certificate.
                app.MapGet("/api/actor", (HttpContext context) => Results.Json(new
                {
                    certificate = TestPki.Sha256Hex(context.Connection.ClientCertificate!),
                    sub = context.User.FindFirst(OpenIddictConstants.Claims.Subject)?.Value,
                    act = context.User.FindFirst(ActorClaim.ClaimName)?.Value,
                })).RequireAuthorization();
                var rejected = 0;
                app.MapMethods("/api/revoked-once", ["GET", "POST"], (HttpContext context) =>
                {
                    if (Interlocked.Increment(ref rejected) == 1)
                    {
                        context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\", error_description=\"The token was revoked.\"";
                        return Results.StatusCode(401);
                    }

                    return Results.Text("ok");
                }).RequireAuthorization();
            });

    public static string TokenX5t(string authorization)
    {
        var token = authorization["Bearer ".Length..];
        using var payload = JsonDocument.Parse(Base64Url.DecodeFromChars(token.Split('.')[1]));
        return payload.RootElement.GetProperty("cnf").GetProperty("x5t#S256").GetString()!;
    }
}
