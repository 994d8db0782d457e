using System.Net;
using AgentIdentity;
using AgentIdentity.AspNetCore;
using Microsoft.AspNetCore.Authorization;

// A service that agents call over mTLS: each request is authenticated by the caller's SPIFFE X.509-SVID and attributed to
// one agent instance. `dotnet run` runs it as Development (Properties/launchSettings.json), where the in-process development
// CA issues the service's own SVID and, to show a call end to end, the SVID of a demo agent that calls the service once.
var builder = WebApplication.CreateBuilder(args);
var identity = builder.Services
    .AddAgentIdentity(o =>
    {
        o.TrustDomain = "corp.example";
        o.AgentName = "service";             // the service's own SVID: spiffe://corp.example/agent/service/<instance>
    });
if (builder.Environment.IsDevelopment())
{
    identity.UseDevelopmentCertificateAuthority()   // production: .UseIssuer(...) or .UseSpiffeWorkloadApi()
            .AddAgent("caller", o => o.Policy = new AgentPolicy(
                services: ["spiffe://corp.example/agent/service/*"],   // the services its HttpClients may reach
                actions: ["greetings:read"]));
    builder.Services.AddHttpClient("caller")
            .AddAgentIdentity(o =>
            {
                o.AgentName = "caller";                                            // present the demo agent's SVID
                o.ServerAuthorizer = PeerAuthorizers.Pattern("spiffe://corp.example/agent/service/*");
            });
}

var port = builder.Configuration.GetValue("PORT", 8443);   // PORT=0 picks a free port
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, listen =>
    listen.UseAgentIdentityHttps(listen.ApplicationServices.GetRequiredService<IX509SvidSource>())));   // agents only

builder.Services.AddAuthentication(AgentIdentityAuthenticationDefaults.AuthenticationScheme).AddAgentIdentity();
builder.Services.AddAuthorization();

var app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();
app.MapGet("/hello", (HttpContext context) => $"hello {context.GetAgentCaller()!.Id}")
   .RequireAuthorization(p => p.RequireTrustDomain("corp.example").RequireAction("greetings:read"));

await app.StartAsync();
var address = app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal);
Console.WriteLine($"Listening on {address}");

if (app.Environment.IsDevelopment())
{
    var client = app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("caller");
    using var response = await client.GetAsync(new Uri(address + "/hello"));
    Console.WriteLine($"demo agent GET /hello: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
}

await app.WaitForShutdownAsync();
