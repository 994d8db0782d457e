using System.Net;
using AgentIdentity.Issuer;

// The certificate authority of a trust domain: agents in other processes enroll with one-time join tokens
// (.UseIssuer(uri, joinToken, ...)), renew and delegate over mTLS, and services fetch the SPIFFE bundle and revocations.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddAgentIdentityIssuer(o =>
{
    o.TrustDomain = "corp.example";
    // The key that encrypts the CA keys at rest: AGENTIDENTITY_ISSUER_KEK (at least 16 characters), from a secret store in
    // production, and the same across restarts. `dotnet run` (Development) falls back to a fixed key for this machine only.
    if (builder.Environment.IsDevelopment() && Environment.GetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable) is null)
    {
        o.KeyEncryptionKey = "development-only-key-encryption-key";
    }
})
.UseSqlite(Path.Combine(builder.Environment.ContentRootPath, "issuer.db"));   // several replicas: .UsePostgreSql(connectionString)

var port = builder.Configuration.GetValue("PORT", 8443);   // PORT=0 picks a free port
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, listen => listen.UseAgentIdentityIssuerHttps()));

var app = builder.Build();
app.MapAgentIdentityIssuer();   // under /agent-identity
await app.StartAsync();

var issuer = app.Services.GetRequiredService<AgentIdentityIssuer>();
var address = app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal) + "/agent-identity/";
Console.WriteLine($"Issuer {issuer.ServerId} listening on {address}");
Console.WriteLine($"SPIFFE bundle: {address}v1/bundle");

await app.WaitForShutdownAsync();
