using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenIddict.Core;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AgentIdentity.IntegrationTests.Policy;

/// <summary>A real OpenIddict 7.8 server (EF Core in-memory store, Kestrel on 127.0.0.1:0) with client credentials and token exchange.</summary>
public sealed class OpenIddictTokenExchangeServer : IAsyncLifetime, IDisposable
{
    internal static readonly SpiffeId Planner = SpiffeId.Parse("spiffe://td.example/agent/planner/1");
    internal static readonly SpiffeId Task1 = SpiffeId.Parse("spiffe://td.example/agent/planner/1/task/t1");
    internal static readonly SpiffeId Task2 = SpiffeId.Parse("spiffe://td.example/agent/planner/1/task/t1/task/t2");

    // Secrets generated at run time: never committed.
    private readonly Dictionary<string, string> _secrets = new()
    {
        ["planner"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
        ["task1"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
        ["task2"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
    };

    private readonly Dictionary<string, SpiffeId> _identities = new()
    {
        ["planner"] = Planner,
        ["task1"] = Task1,
        ["task2"] = Task2,
    };

    private TestHost _host = null!;
    private HttpClient _http = null!;

    private sealed class StoreContext(DbContextOptions options) : DbContext(options);

    public async Task InitializeAsync()
    {
        var builder = TestHost.CreateBuilder();
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(5));
        var database = Guid.NewGuid().ToString();
        builder.Services.AddDbContext<StoreContext>(o => o.UseInMemoryDatabase(database).UseOpenIddict());
        builder.Services.AddOpenIddict()
            .AddCore(o =>
            {
                o.UseEntityFrameworkCore().UseDbContext<StoreContext>();
                o.ReplaceApplicationManager(typeof(FastSecretApplicationManager<>));
            })
            .AddServer(o =>
            {
                o.SetTokenEndpointUris("connect/token");
                o.AllowClientCredentialsFlow().AllowTokenExchangeFlow();
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
                o.DisableAccessTokenEncryption();
                o.UseAspNetCore().EnableTokenEndpointPassthrough().DisableTransportSecurityRequirement();
            });
        var app = builder.Build();
        app.MapPost("/connect/token", (Delegate)TokenEndpointAsync);
        _host = await TestHost.StartAsync(app);

        await using (var scope = _host.Services.CreateAsyncScope())
        {
            var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
            foreach (var (clientId, secret) in _secrets)
            {
                await manager.CreateAsync(new OpenIddictApplicationDescriptor
                {
                    ClientId = clientId,
                    ClientSecret = secret,
                    ClientType = ClientTypes.Confidential,
                    Permissions = { Permissions.Endpoints.Token, Permissions.GrantTypes.ClientCredentials, Permissions.GrantTypes.TokenExchange },
                });
            }
        }

        _http = new HttpClient { BaseAddress = _host.Address };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    public void Dispose() => _http?.Dispose();

    /// <summary>The authorization server's token endpoint (passthrough): the part a deployment writes.</summary>
    private async Task<IResult> TokenEndpointAsync(HttpContext context)
    {
        var request = context.GetOpenIddictServerRequest()!;
        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        if (request.IsClientCredentialsGrantType())
        {
            // Each client is an agent; its token's subject is its SPIFFE ID.
            identity.SetClaim(Claims.Subject, _identities[request.ClientId!].ToString());
        }
        else if (request.IsTokenExchangeGrantType())
        {
            var subject = await context.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            var actor = subject.Properties?.GetParameter<ClaimsPrincipal>(OpenIddictServerAspNetCoreConstants.Properties.ActorTokenPrincipal);
            var actorId = actor?.GetClaim(Claims.Subject);
            if (subject.Principal is null || actorId is null || actorId != _identities[request.ClientId!].ToString())
            {
                return Results.Forbid(
                    new AuthenticationProperties(new Dictionary<string, string?>
                    {
                        [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.InvalidGrant,
                        [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The actor token does not name the authenticated client.",
                    }),
                    [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
            }

            identity.SetClaim(Claims.Subject, subject.Principal.GetClaim(Claims.Subject));

            // Emit the RFC 8693 "act" claim (not OpenIddict's Claims.Actor, which is "actor"), nesting the subject token's own act.
            var previous = subject.Principal.FindFirst(ActorClaim.ClaimName)?.Value;
            using var previousDocument = previous is null ? null : JsonDocument.Parse(previous);
            identity.SetClaim(ActorClaim.ClaimName, ActorClaim.Nest(actorId, previousDocument?.RootElement));
        }
        else
        {
            return Results.BadRequest();
        }

        identity.SetDestinations(static _ => [Destinations.AccessToken]);
        return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    internal async Task<string> ClientCredentialsAsync(string clientId)
    {
        using var response = await _http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = GrantTypes.ClientCredentials,
            ["client_id"] = clientId,
            ["client_secret"] = _secrets[clientId],
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    internal async Task<(HttpStatusCode Status, JsonElement Body)> ExchangeAsync(string clientId, TokenExchangeRequest exchange)
    {
        var fields = exchange.ToParameters().ToList();
        fields.Add(new("client_id", clientId));
        fields.Add(new("client_secret", _secrets[clientId]));
        using var response = await _http.PostAsync("connect/token", new FormUrlEncodedContent(fields));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    internal static JsonElement Payload(string jwt)
    {
        var part = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
        part = part.PadRight(part.Length + ((4 - (part.Length % 4)) % 4), '=');
        return JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(part))).RootElement.Clone();
    }
}

/// <summary>
/// RFC 8693 delegation against a real OpenIddict 7.8 server: a task agent exchanges its parent's token, together with its own
/// (actor) token, for a delegated token whose <c>act</c> claim names every actor, current first.
/// </summary>
public sealed class TokenExchangeOpenIddictTests(OpenIddictTokenExchangeServer server) : IClassFixture<OpenIddictTokenExchangeServer>
{
    private static readonly SpiffeId Planner = OpenIddictTokenExchangeServer.Planner;
    private static readonly SpiffeId Task1 = OpenIddictTokenExchangeServer.Task1;
    private static readonly SpiffeId Task2 = OpenIddictTokenExchangeServer.Task2;

    [Fact]
    public async Task Exchange_TwoHopDelegation_ActClaimNamesEveryActorCurrentFirst()
    {
        var plannerToken = await server.ClientCredentialsAsync("planner");

        // Hop 1: task t1 acts for the planner.
        var (status, body) = await server.ExchangeAsync("task1", new TokenExchangeRequest
        {
            SubjectToken = plannerToken,
            ActorToken = await server.ClientCredentialsAsync("task1"),
            ActorTokenType = TokenExchangeRequest.AccessTokenType,
            RequestedTokenType = TokenExchangeRequest.AccessTokenType,
        });
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(TokenExchangeRequest.AccessTokenType, body.GetProperty("issued_token_type").GetString());
        var delegated = body.GetProperty("access_token").GetString()!;
        var payload = OpenIddictTokenExchangeServer.Payload(delegated);
        Assert.Equal(Planner.ToString(), payload.GetProperty("sub").GetString());
        Assert.True(ActorClaim.TryReadChain(payload, out var actors, out var error), error);
        Assert.Equal([Task1.ToString()], actors);

        // Hop 2: t2 (t1's task) exchanges the delegated token with its own actor token.
        (status, body) = await server.ExchangeAsync("task2", new TokenExchangeRequest
        {
            SubjectToken = delegated,
            ActorToken = await server.ClientCredentialsAsync("task2"),
            ActorTokenType = TokenExchangeRequest.AccessTokenType,
        });
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        payload = OpenIddictTokenExchangeServer.Payload(body.GetProperty("access_token").GetString()!);
        Assert.Equal(Planner.ToString(), payload.GetProperty("sub").GetString());
        Assert.True(ActorClaim.TryReadChain(payload, out actors, out error), error);
        Assert.Equal([Task2.ToString(), Task1.ToString()], actors);

        // The same actors as the task identity's certificate chain gives (current first), which ends at the subject, the root agent.
        var fromCertificate = ActorClaim.FromDelegation(Task2, new DelegationChain(
        [
            new DelegationLink(Planner, new byte[32], DateTimeOffset.UnixEpoch, AgentPolicy.Empty),
            new DelegationLink(Task1, new byte[32], DateTimeOffset.UnixEpoch, AgentPolicy.Empty),
        ]));
        using var certificateActs = JsonDocument.Parse(new JsonObject { ["act"] = fromCertificate }.ToJsonString());
        Assert.True(ActorClaim.TryReadChain(certificateActs.RootElement, out var certificateActors, out _));
        Assert.Equal([.. actors, Planner.ToString()], certificateActors);
        Assert.False(payload.TryGetProperty(Claims.Actor, out _)); // no non-standard "actor" claim
    }

    [Fact]
    public async Task Exchange_ActorTokenOfAnotherAgent_IsRefused()
    {
        // task1 presents task2's token as its actor token: the server refuses (the actor must be the authenticated client).
        var (status, body) = await server.ExchangeAsync("task1", new TokenExchangeRequest
        {
            SubjectToken = await server.ClientCredentialsAsync("planner"),
            ActorToken = await server.ClientCredentialsAsync("task2"),
            ActorTokenType = TokenExchangeRequest.AccessTokenType,
        });
        Assert.True(status == HttpStatusCode.BadRequest, $"{status}: {body}");
        Assert.Equal(Errors.InvalidGrant, body.GetProperty("error").GetString());
        Assert.Equal("The actor token does not name the authenticated client.", body.GetProperty("error_description").GetString());
    }

    [Fact]
    public void OpenIddictActorConstant_IsNotTheRfc8693ClaimName() =>
        Assert.NotEqual(ActorClaim.ClaimName, Claims.Actor);
}

/// <summary>
/// Test-only: OpenIddict hashes client secrets with PBKDF2 at a production work factor, which costs seconds per client on a
/// loaded 2-core CI machine. The secrets here are random 128-bit values generated per run, so a SHA-256 digest compared in
/// constant time is enough for the test.
/// </summary>
internal sealed class FastSecretApplicationManager<TApplication>(
    IOpenIddictApplicationCache<TApplication> cache,
    ILogger<OpenIddictApplicationManager<TApplication>> logger,
    IOptionsMonitor<OpenIddictCoreOptions> options,
    IOpenIddictApplicationStore<TApplication> store)
    : OpenIddictApplicationManager<TApplication>(cache, logger, options, store)
    where TApplication : class
{
    protected override ValueTask<string> ObfuscateClientSecretAsync(string secret, CancellationToken cancellationToken = default) =>
        new(Digest(secret));

    protected override ValueTask<bool> ValidateClientSecretAsync(string secret, string comparand, CancellationToken cancellationToken = default) =>
        new(CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Digest(secret)), Encoding.ASCII.GetBytes(comparand)));

    private static string Digest(string secret) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}
