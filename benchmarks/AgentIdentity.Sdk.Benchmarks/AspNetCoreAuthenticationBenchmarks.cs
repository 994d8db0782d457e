using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Benchmarks;

/// <summary>
/// Authentication + authorization of one request, in-process on a DefaultHttpContext with Connection.ClientCertificate set
/// (the TLS handshake is the same for both and is not measured): the AgentIdentity handler against the stock
/// Microsoft.AspNetCore.Authentication.Certificate handler with custom root trust (CustomRootTrust, no revocation fetch).
/// "Warm" = the certificate was seen before (AgentIdentity's validation cache; the stock handler's AddCertificateCache).
/// "NewConnection" = no cache: a full chain build per request, the cost of a certificate's first connection.
/// Run: dotnet run -c Release --project benchmarks/AgentIdentity.Sdk.Benchmarks -- --filter '*AspNetCoreAuthentication*'
/// </summary>
[MemoryDiagnoser]
public class AspNetCoreAuthenticationBenchmarks
{
    private const string AgentCached = "AgentIdentity";
    private const string AgentUncached = "AgentIdentityNoCache";
    private const string StockCached = "StockCached";
    private const string StockUncached = "Stock";
    private const string Floor = "Floor";

    private DevelopmentCertificateAuthority _ca = null!;
    private X509SvidOwner _owner = null!;
    private X509Svid _svid = null!;
    private ServiceProvider _agentServices = null!;
    private ServiceProvider _stockServices = null!;
    private ServiceProvider _stockCachedServices = null!;
    private IServiceScopeFactory _agentScopes = null!;
    private IServiceScopeFactory _stockScopes = null!;
    private IServiceScopeFactory _stockCachedScopes = null!;
    private AuthorizationPolicy _agentPolicy = null!;
    private AuthorizationPolicy _agentUncachedPolicy = null!;
    private AuthorizationPolicy _floorPolicy = null!;
    private AuthorizationPolicy _stockPolicy = null!;
    private AuthorizationPolicy _stockCachedPolicy = null!;
    private X509Certificate2[] _intermediates = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _ca = DevelopmentCertificateAuthority.Create(TrustDomain.Parse("corp.example"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri("spiffe://corp.example/agent/planner/1"));
        request.CertificateExtensions.Add(san.Build(critical: true));
        var issuance = _ca.Issue(new X509SvidRequest(SpiffeId.Parse("spiffe://corp.example/agent/planner/1"), request.CreateSigningRequest(), TimeSpan.FromHours(1)));
        _owner = new X509SvidOwner(issuance.Certificate.CopyWithPrivateKey(key), issuance.Intermediates);
        _svid = _owner.Svid;
        _intermediates = [.. _svid.Intermediates];

        var agent = new ServiceCollection();
        agent.AddLogging();
        agent.AddSingleton<ITrustBundleSource>(_ca);
        agent.AddAuthentication()
            .AddAgentIdentity()
            .AddAgentIdentity(AgentUncached, o => o.ValidationCacheSize = 0)
            .AddScheme<AuthenticationSchemeOptions, FloorHandler>(Floor, null);
        agent.AddAuthorization();
        _agentServices = agent.BuildServiceProvider();
        _agentScopes = _agentServices.GetRequiredService<IServiceScopeFactory>();
        _agentPolicy = new AuthorizationPolicyBuilder(AgentCached).RequireAuthenticatedUser().RequireAgent("spiffe://corp.example/agent/planner/*").Build();
        _floorPolicy = new AuthorizationPolicyBuilder(Floor).RequireAuthenticatedUser().RequireAgent("spiffe://corp.example/agent/planner/*").Build();
        _agentUncachedPolicy = new AuthorizationPolicyBuilder(AgentUncached).RequireAuthenticatedUser().RequireAgent("spiffe://corp.example/agent/planner/*").Build();

        _stockServices = BuildStock(StockUncached, cache: false);
        _stockScopes = _stockServices.GetRequiredService<IServiceScopeFactory>();
        _stockPolicy = StockPolicy(StockUncached);
        _stockCachedServices = BuildStock(StockCached, cache: true);
        _stockCachedScopes = _stockCachedServices.GetRequiredService<IServiceScopeFactory>();
        _stockCachedPolicy = StockPolicy(StockCached);

        // Warm both caches and check that every variant really authenticates and authorizes.
        var checks = new (string Name, bool Ok)[]
        {
            ("AgentIdentity warm", await AgentIdentityWarm()),
            ("AgentIdentity new connection", await AgentIdentityNewConnection()),
            ("stock", await StockCertificateHandlerNewConnection()),
            ("stock cached", await StockCertificateHandlerWarm()),
            ("floor", await FrameworkFloor()),
        };
        foreach (var (name, ok) in checks)
        {
            if (!ok)
            {
                throw new InvalidOperationException($"Benchmark variant '{name}' did not authorize the request.");
            }
        }
    }

    private ServiceProvider BuildStock(string scheme, bool cache)
    {
        var stock = new ServiceCollection();
        stock.AddLogging();
        var builder = stock.AddAuthentication().AddCertificate(scheme, o =>
        {
            o.AllowedCertificateTypes = CertificateTypes.Chained;
            o.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
            o.CustomTrustStore = [_ca.RootCertificate];
            o.AdditionalChainCertificates = [_ca.IntermediateCertificate];
            o.RevocationMode = X509RevocationMode.NoCheck;
        });
        if (cache)
        {
            builder.AddCertificateCache();
        }

        stock.AddAuthorization();
        return stock.BuildServiceProvider();
    }

    private static AuthorizationPolicy StockPolicy(string scheme) =>
        new AuthorizationPolicyBuilder(scheme).RequireAuthenticatedUser().RequireAssertion(c =>
            c.User.FindFirst(System.Security.Claims.ClaimTypes.Thumbprint) is not null).Build();

    private async Task<bool> RunAsync(IServiceScopeFactory scopes, string scheme, AuthorizationPolicy policy, bool agentChain)
    {
        await using var scope = scopes.CreateAsyncScope();
        var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        context.Request.IsHttps = true; // the stock handler ignores plain-HTTP requests
        context.Connection.ClientCertificate = _svid.Certificate;
        if (agentChain)
        {
            context.Features.Set(new AgentTlsChainFeature { Intermediates = _intermediates });
        }

        var result = await context.AuthenticateAsync(scheme);
        if (!result.Succeeded)
        {
            return false;
        }

        var authorization = scope.ServiceProvider.GetRequiredService<IAuthorizationService>();
        return (await authorization.AuthorizeAsync(result.Principal, context, policy)).Succeeded;
    }

    [Benchmark(Description = "AgentIdentity, warm cache")]
    public Task<bool> AgentIdentityWarm() => RunAsync(_agentScopes, AgentCached, _agentPolicy, agentChain: true);

    [Benchmark(Baseline = true, Description = "Stock certificate handler, AddCertificateCache")]
    public Task<bool> StockCertificateHandlerWarm() => RunAsync(_stockCachedScopes, StockCached, _stockCachedPolicy, agentChain: false);

    [Benchmark(Description = "AgentIdentity, new connection (chain build)")]
    public Task<bool> AgentIdentityNewConnection() => RunAsync(_agentScopes, AgentUncached, _agentUncachedPolicy, agentChain: true);

    [Benchmark(Description = "Stock certificate handler, new connection (chain build)")]
    public Task<bool> StockCertificateHandlerNewConnection() => RunAsync(_stockScopes, StockUncached, _stockPolicy, agentChain: false);

    [Benchmark(Description = "Framework floor: scope + context + fixed-principal scheme + same authorization")]
    public Task<bool> FrameworkFloor() => RunAsync(_agentScopes, Floor, _floorPolicy, agentChain: false);

    [GlobalCleanup]
    public void Cleanup()
    {
        _agentServices.Dispose();
        _stockServices.Dispose();
        _stockCachedServices.Dispose();
        _owner.Dispose();
        _ca.Dispose();
    }

    /// <summary>A scheme that returns a fixed principal: what the ASP.NET Core pipeline itself costs per request.</summary>
    private sealed class FloorHandler(
        Microsoft.Extensions.Options.IOptionsMonitor<AuthenticationSchemeOptions> options,
        Microsoft.Extensions.Logging.ILoggerFactory logger,
        System.Text.Encodings.Web.UrlEncoder encoder) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            var identity = new System.Security.Claims.ClaimsIdentity(
                [new System.Security.Claims.Claim(AgentIdentityClaimTypes.SpiffeId, "spiffe://corp.example/agent/planner/1", null, AgentIdentityAuthenticationDefaults.AuthenticationScheme)],
                Floor);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new System.Security.Claims.ClaimsPrincipal(identity), Floor)));
        }
    }
}
