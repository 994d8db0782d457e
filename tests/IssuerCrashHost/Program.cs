using System.Net;
using System.Text.Json;
using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Usage: IssuerCrashHost <sqlite|postgresql> <database file | Npgsql connection string>
// Starts an issuer of trust domain example.org on https://127.0.0.1:<free port>/agent-identity/ with the store-backed revocation
// registry (feed, CRL and OCSP under revocation/), creates a join token for an operator ("ops", allowed every admin action), and
// prints one line: "READY " + a JSON object (address, serverId, bundle, signer certificate, operator join token). It serves until
// its standard input closes (the test ends) or it is killed (the crash tests send SIGKILL).
if (args.Length != 2 || args[0] is not ("sqlite" or "postgresql"))
{
    Console.Error.WriteLine("Usage: IssuerCrashHost <sqlite|postgresql> <database file | Npgsql connection string>");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
var issuerBuilder = builder.Services.AddAgentIdentityIssuer(o =>
{
    o.TrustDomain = "example.org";
    o.KeyEncryptionKey = "crash-test-kek-0123456789abcdef";
    o.KeyEncryptionIterations = 100_000;
    o.RateLimitPermits = 100_000;
    o.AnonymousRateLimitPermits = 100_000;
    if (args[0] == "postgresql")
    {
        // One replica per database here: its audit log directory is named after the database, so a restart reopens the same log.
        var name = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(args[1])))[..16];
        o.Audit.Directory = Path.Combine(Path.GetTempPath(), "ai-crash-audit-" + name);
        o.Audit.ReplicaId = "crash";
    }
});
_ = args[0] == "sqlite" ? issuerBuilder.UseSqlite(args[1]) : issuerBuilder.UsePostgreSql(args[1]);
builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityIssuerHttps()));
await using var app = builder.Build();
app.MapAgentIdentityIssuer();
await app.StartAsync();

var issuer = app.Services.GetRequiredService<AgentIdentityIssuer>();
var operatorPolicy = new AgentPolicy(actions: [IssuerAdminActions.Revoke, IssuerAdminActions.JoinToken, IssuerAdminActions.Status]);
var ready = new Dictionary<string, string>
{
    ["address"] = app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal) + "/agent-identity/",
    ["serverId"] = issuer.ServerId.ToString(),
    ["bundle"] = issuer.GetBundle().ToJsonString(),
    ["signer"] = Convert.ToBase64String(app.Services.GetRequiredService<IRevocationRegistry>().SignerCertificate.RawData),
    ["operatorToken"] = await issuer.CreateJoinTokenAsync("ops", operatorPolicy, TimeSpan.FromMinutes(10)),
};
Console.Out.WriteLine("READY " + JsonSerializer.Serialize(ready));
Console.Out.Flush();

await Console.In.ReadToEndAsync();
await app.StopAsync();
return 0;
