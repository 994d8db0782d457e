using AgentIdentity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// A console agent with its own short-lived SPIFFE identity from the in-process development CA.
// The development CA refuses the Production environment, so this sample runs as Development.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, EnvironmentName = Environments.Development });
builder.Services
    .AddAgentIdentity(o =>
    {
        o.TrustDomain = "corp.example";
        o.AgentName = "planner";
    })
    .UseDevelopmentCertificateAuthority();

using var host = builder.Build();
await host.StartAsync();

var svid = host.Services.GetRequiredService<IX509SvidSource>().GetCurrent();
Console.WriteLine($"{svid.Id} serial {svid.SerialNumber}, valid until {svid.NotAfter:O}");

await host.StopAsync();
