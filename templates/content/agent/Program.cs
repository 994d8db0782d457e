using AgentIdentity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// An agent with its own short-lived SPIFFE identity. `dotnet run` runs it as Development (Properties/launchSettings.json):
// the in-process development CA refuses any other environment.
var builder = Host.CreateApplicationBuilder(args);
builder.Services
    .AddAgentIdentity(o =>
    {
        o.TrustDomain = "corp.example";
        o.AgentName = "agent";
        o.Credential.Policy = new AgentPolicy(tools: ["Clock.*"]);   // what this agent may do, carried in its certificate
    })
    .UseDevelopmentCertificateAuthority();   // production: .UseIssuer(...) (AgentIdentity.Sdk.Issuer) or .UseSpiffeWorkloadApi() (SPIRE)

using var host = builder.Build();
await host.StartAsync();   // returns once the agent has its first SVID

X509Svid svid = host.Services.GetRequiredService<IX509SvidSource>().GetCurrent();   // never blocks, never expired
Console.WriteLine($"I am {svid.Id}, certificate {svid.SerialNumber}, valid until {svid.NotAfter:u}");

// The agent's work goes here: tool calls (AgentIdentity.Sdk.SemanticKernel, AgentIdentity.Sdk.AI) and outbound mTLS calls
// (builder.Services.AddHttpClient("erp").AddAgentIdentity(...)) carry this identity and follow its rotation.

await host.StopAsync();
