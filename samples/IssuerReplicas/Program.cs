// Issuer replicas sample: the production deployment of the AgentIdentity issuer, N stateless replicas sharing one PostgreSQL
// database (appsettings.json: Issuer:PostgreSql; the key-encryption key from AGENTIDENTITY_ISSUER_KEK, the same on every replica).
//
//   dotnet IssuerReplicas.dll replica A      one replica, listening on Replicas:A:Url (run-two-replicas.sh starts A and B)
//   dotnet IssuerReplicas.dll                the demo: replicas A and B in this process against the configured database; an agent
//                                            enrolls on A, a subscriber follows B's revocation feed, the agent is revoked on A, and
//                                            B's feed and CRL show it (PostgreSQL LISTEN/NOTIFY wakes B). Exits 0 when they do.
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

return args is ["replica", var name, ..] ? await RunReplicaAsync(name, args) : await RunDemoAsync(args);

static WebApplication BuildReplica(string name, string[] args, Uri? url)
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    var issuer = builder.Configuration.GetSection("Issuer");
    builder.Services.AddAgentIdentityIssuer(o =>
    {
        o.TrustDomain = issuer["TrustDomain"];
        foreach (var dns in issuer.GetSection("DnsNames").Get<string[]>() ?? [])
        {
            o.ServerDnsNames.Add(dns);
        }

        // KeyEncryptionKey stays unset: the issuer reads AGENTIDENTITY_ISSUER_KEK (bind it from your secret store).

        // Each replica keeps its own signed control-plane audit log: a stable name and a directory of its own (a persistent
        // volume per pod in production: set Issuer:AuditDirectory, or Issuer__AuditDirectory; here by default under the temp directory).
        o.Audit.ReplicaId = name;
        o.Audit.Directory = Path.Combine(issuer["AuditDirectory"] ?? Path.Combine(Path.GetTempPath(), "agent-identity-issuer-audit"), name);
    }).UsePostgreSql(issuer["PostgreSql"] ?? throw new InvalidOperationException("Set Issuer:PostgreSql (or the Issuer__PostgreSql environment variable) to the shared database's connection string."));
    builder.WebHost.UseKestrel(k =>
    {
        var endpoint = url is null ? new IPEndPoint(IPAddress.Loopback, 0) : new IPEndPoint(IPAddress.Parse(url.Host), url.Port);
        k.Listen(endpoint, lo => lo.UseAgentIdentityIssuerHttps());
    });
    var app = builder.Build();
    app.MapAgentIdentityIssuer();
    return app;
}

static async Task<int> RunReplicaAsync(string name, string[] args)
{
    var configuration = new ConfigurationBuilder().SetBasePath(AppContext.BaseDirectory).AddJsonFile("appsettings.json").AddEnvironmentVariables().AddCommandLine(args[2..]).Build();
    var url = configuration[$"Replicas:{name}:Url"] ?? throw new InvalidOperationException($"Replica '{name}' has no Replicas:{name}:Url in appsettings.json.");
    await using var app = BuildReplica(name, args[2..], new Uri(url));
    await app.StartAsync();
    Console.WriteLine($"Replica {name} listening on {url}/agent-identity/ (feed: revocation/feed, CRL: revocation/crl).");
    await app.WaitForShutdownAsync();
    return 0;
}

static async Task<int> RunDemoAsync(string[] args)
{
    Environment.SetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable,
        Environment.GetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable) ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
    var run = Guid.NewGuid().ToString("N")[..8]; // the demo's replicas get fresh audit logs on each run
    await using var a = BuildReplica("demo-a-" + run, args, null);
    await using var b = BuildReplica("demo-b-" + run, args, null);
    await a.StartAsync();
    await b.StartAsync();
    var issuerA = a.Services.GetRequiredService<AgentIdentityIssuer>();
    var issuerB = b.Services.GetRequiredService<AgentIdentityIssuer>();
    Uri Base(WebApplication app) => new(app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal) + "/agent-identity/");
    Console.WriteLine($"Replica A on {Base(a)}, replica B on {Base(b)}, one PostgreSQL database; same CA: {issuerA.GetBundle().X509Authorities[0].Thumbprint == issuerB.GetBundle().X509Authorities[0].Thumbprint}");

    // An agent enrolls on replica A with a one-time join token.
    var token = await issuerA.CreateJoinTokenAsync("planner", new AgentPolicy(tools: ["web.search"]), TimeSpan.FromMinutes(5));
    await using var agent = await AgentCredential.CreateAsync(SpiffeId.NewAgentInstance(issuerA.TrustDomain, "planner"),
        new IssuerClient(new IssuerClientOptions { Address = Base(a), JoinToken = token, ServerId = issuerA.ServerId, ServerTrustBundle = issuerA.GetBundle() }));
    var serial = agent.GetCurrent().SerialNumber;
    Console.WriteLine($"Agent enrolled on A as {agent.Id}, serial {serial}");

    // A service follows replica B's signed revocation feed.
    using var http = new HttpClient(TrustIssuer(issuerB)) { Timeout = Timeout.InfiniteTimeSpan };
    var registryB = b.Services.GetRequiredService<IRevocationRegistry>();
    await using var subscriber = new RevocationFeedSubscriber(http, new Uri(Base(b), "revocation/feed"), new RevocationFeedVerifier(registryB.SignerCertificate, issuerB.TrustDomain), new RevocationSet());
    var connected = new TaskCompletionSource();
    subscriber.ConnectionChanged += (_, up) => { if (up) { connected.TrySetResult(); } };
    subscriber.Start();
    await connected.Task.WaitAsync(TimeSpan.FromSeconds(30));

    // The operator revokes the agent on replica A (in process here; over mTLS with POST v1/revoke or `agentid revoke` in production).
    var started = Stopwatch.GetTimestamp();
    var entry = await a.Services.GetRequiredService<IRevocationRegistry>().RevokeIdentityAsync(agent.Id, X509RevocationReason.KeyCompromise);
    await subscriber.Set.WaitForSequenceAsync(entry.Sequence).WaitAsync(TimeSpan.FromSeconds(30));
    Console.WriteLine($"Revoked on A ({entry}); B's feed subscriber had it after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms");

    using var crlHttp = new HttpClient(TrustIssuer(issuerB));
    var crlBytes = await crlHttp.GetByteArrayAsync(new Uri(Base(b), "revocation/crl"));
    var listed = CertificateRevocationListBuilder.Load(crlBytes, out _).RemoveEntry(Convert.FromHexString(serial));
    Console.WriteLine(listed ? $"B's CRL lists serial {serial}." : $"B's CRL does NOT list serial {serial}.");
    if (!listed)
    {
        return 1;
    }

    Console.WriteLine("Replica B saw the revocation made on replica A.");
    await b.StopAsync();
    await a.StopAsync();
    return 0;
}

static SocketsHttpHandler TrustIssuer(AgentIdentityIssuer issuer)
{
    var handler = new SocketsHttpHandler();
    handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
        certificate is X509Certificate2 leaf
        && X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, issuer.GetBundle(), TimeProvider.System.GetUtcNow()) is { IsValid: true } result
        && result.Id == issuer.ServerId;
    return handler;
}
