// An agent host configured from appsettings.json (docs/configuration.md): the trust domain, two agents with their policies, an
// agent HttpClient, the tool guard and the audit log. Nothing about identity is set in code. A bad configuration (a key that is
// not an option, a value that does not convert, an invalid SPIFFE ID or policy pattern) stops the host at start with exit code 2
// and a message that names the full configuration key, e.g. 'AgentIdentity:Agents:planner:Policy:tools:0'.
// Any key can be overridden by an environment variable (AgentIdentity__Agents__planner__Lifetime=00:05:00) or a command-line
// argument (--Audit:Directory=/tmp/audit).
// Run: dotnet run --project samples/ConfiguredAgent
using AgentIdentity;
using AgentIdentity.Audit;
using AgentIdentity.Tools;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    EnvironmentName = Environments.Development, // the development CA refuses Production
    ContentRootPath = AppContext.BaseDirectory, // appsettings.json next to the program
});
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var configuration = builder.Configuration;

IHost host;
try
{
    builder.Services
        .AddAgentIdentity(configuration.GetSection("AgentIdentity")) // TrustDomain, Credential, Agents:planner, Agents:researcher
        .UseDevelopmentCertificateAuthority()
        .AddAuditLog("planner", configuration.GetSection("Audit"));
    builder.Services.AddHttpClient("erp").AddAgentIdentity(configuration.GetSection("HttpClients:erp"));
    host = builder.Build();
    await host.StartAsync(); // options are bound and validated here, and every agent's first SVID is issued
}
catch (Exception e) when (e is OptionsValidationException or InvalidOperationException or FormatException or AggregateException)
{
    Console.Error.WriteLine($"ConfiguredAgent: configuration error: {e.Message}");
    return 2;
}

using (host)
{
    var guardOptions = new ToolCallGuardOptions().Bind(configuration.GetSection("ToolGuard"));
    foreach (var agent in new[] { "planner", "researcher" })
    {
        var credential = host.Services.GetRequiredKeyedService<AgentCredential>(agent);
        var svid = credential.GetCurrent();
        Console.WriteLine($"{svid.Id} valid until {svid.NotAfter:O}; policy {svid.Policy}");

        var guard = ToolCallGuard.Create(host.Services, credential, o =>
        {
            foreach (var (tool, action) in guardOptions.ToolActions)
            {
                o.ToolActions[tool] = action;
            }
        });
        var outcome = guard.Authorize(new ToolCall { ToolName = "Erp.GetInvoice", FunctionName = "GetInvoice", PluginName = "Erp", ToolCallId = $"call-{agent}" }, out _);
        Console.WriteLine($"{agent} Erp.GetInvoice: {(outcome.WasInvoked ? "allowed" : $"denied ({outcome.Denial})")}");
    }

    // The HttpClient's options were validated at start; resolving the client shows it is wired to the planner's credential.
    _ = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("erp");
    var audit = host.Services.GetRequiredService<AuditLog>();
    Console.WriteLine($"audit log {audit.Origin} at {host.Services.GetRequiredService<IOptions<AuditLogOptions>>().Value.Directory}");
    await host.StopAsync();
}

return 0;
