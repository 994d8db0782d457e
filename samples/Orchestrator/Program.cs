// Orchestrator sample: a host process embeds the AgentIdentity issuer and a service that requires mTLS, then launches two
// agent processes (this same binary, "agent" mode). Each agent enrolls with its one-time join token, gets its own SVID and
// calls the service over mTLS. The orchestrator exits 0 when both agents succeeded.
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using AgentIdentity;
using AgentIdentity.Issuer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

return args is ["agent", ..] ? await RunAgentAsync() : await RunOrchestratorAsync();

static async Task<int> RunOrchestratorAsync()
{
    var directory = Path.Combine(Path.GetTempPath(), "agentidentity-orchestrator-" + Guid.NewGuid().ToString("N"));
    Directory.CreateDirectory(directory);
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Services.AddAgentIdentityIssuer(o =>
    {
        o.TrustDomain = "orchestrator.example";
        // A real deployment reads the key-encryption key from a secret store (AGENTIDENTITY_ISSUER_KEK); the sample makes one per run.
        o.KeyEncryptionKey ??= Environment.GetEnvironmentVariable(AgentIdentityIssuerOptions.KeyEncryptionKeyEnvironmentVariable) ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    }).UseSqlite(Path.Combine(directory, "issuer.db")); // one issuer process; .UsePostgreSql(connectionString) for replicas
    builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, lo => lo.UseAgentIdentityIssuerHttps()));
    await using var app = builder.Build();
    app.MapAgentIdentityIssuer();

    // The service: answers only callers that present a valid SVID of this trust domain.
    var issuer = app.Services.GetRequiredService<AgentIdentityIssuer>();
    app.MapGet("/service/hello", (HttpContext context) =>
    {
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            return Results.Problem("Client certificate required.", statusCode: 401);
        }

        var result = issuer.ValidateSvid(certificate);
        return result.IsValid ? Results.Text($"hello {result.Id}") : Results.Problem(result.Reason, statusCode: 401);
    });

    await app.StartAsync();
    var address = app.Urls.First().Replace("http://", "https://", StringComparison.Ordinal);
    Console.WriteLine($"Issuer and service listening on {address}");
    var bundlePath = Path.Combine(directory, "bundle.json");
    await File.WriteAllTextAsync(bundlePath, issuer.GetBundle().ToJsonString());

    var agents = new List<Process>();
    foreach (var name in new[] { "researcher", "writer" })
    {
        var token = await issuer.CreateJoinTokenAsync(name, new AgentPolicy(services: ["spiffe://orchestrator.example/agent-identity/*"]), TimeSpan.FromMinutes(2));
        var start = SelfStartInfo();
        start.Environment["AGENT_NAME"] = name;
        start.Environment["ISSUER_URL"] = address + "/agent-identity/";
        start.Environment["ISSUER_ID"] = issuer.ServerId.ToString();
        start.Environment["JOIN_TOKEN"] = token; // handed to the child only, never logged
        start.Environment["BUNDLE_PATH"] = bundlePath;
        start.Environment["SERVICE_URL"] = address + "/service/hello";
        agents.Add(Process.Start(start)!);
    }

    var failed = 0;
    foreach (var agent in agents)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await agent.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            agent.Kill(entireProcessTree: true);
            Console.Error.WriteLine($"agent process {agent.Id} timed out");
        }

        failed += agent.HasExited && agent.ExitCode == 0 ? 0 : 1;
        agent.Dispose();
    }

    await app.StopAsync();
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    Directory.Delete(directory, recursive: true);
    Console.WriteLine(failed == 0 ? "Both agents enrolled and called the service." : $"{failed} agent(s) failed.");
    return failed == 0 ? 0 : 1;
}

static async Task<int> RunAgentAsync()
{
    string Env(string name) => Environment.GetEnvironmentVariable(name) ?? throw new InvalidOperationException($"{name} is not set; the orchestrator sets it.");
    var name = Env("AGENT_NAME");
    var trustDomain = TrustDomain.Parse("orchestrator.example");
    var bundle = TrustBundle.Parse(trustDomain, await File.ReadAllTextAsync(Env("BUNDLE_PATH")));
    var issuerId = SpiffeId.Parse(Env("ISSUER_ID"));

    var services = new ServiceCollection();
    services.AddLogging();
    services.AddAgentIdentity(o =>
    {
        o.TrustDomain = trustDomain.Name;
        o.AgentName = name;
        o.Credential.Lifetime = TimeSpan.FromMinutes(10);
    }).UseIssuer(new Uri(Env("ISSUER_URL")), Env("JOIN_TOKEN"), o =>
    {
        o.ServerId = issuerId;
        o.ServerTrustBundle = bundle;
    });
    await using var provider = services.BuildServiceProvider();
    foreach (var hosted in provider.GetServices<IHostedService>())
    {
        await hosted.StartAsync(CancellationToken.None);
    }

    var svid = provider.GetRequiredService<AgentCredential>().GetCurrent();
    Console.WriteLine($"[{name}] enrolled as {svid.Id}, expires {svid.NotAfter:O}");

    // Call the service over mTLS with the agent's SVID (rotation-safe), trusting the server only as the issuer's SPIFFE ID.
    var credential = provider.GetRequiredService<AgentCredential>();
    using var client = new HttpClient(AgentHttpClient.CreateHandler(credential, o =>
    {
        o.ServerId = issuerId.ToString();
        o.TrustBundleSource = bundle;
    }));
    var answer = await client.GetStringAsync(new Uri(Env("SERVICE_URL")));
    Console.WriteLine($"[{name}] service answered: {answer}");
    return answer == $"hello {svid.Id}" ? 0 : 1;
}

static ProcessStartInfo SelfStartInfo()
{
    var processPath = Environment.ProcessPath!;
    var start = Path.GetFileNameWithoutExtension(processPath) == "dotnet"
        ? new ProcessStartInfo(processPath) { ArgumentList = { typeof(Program).Assembly.Location, "agent" } }
        : new ProcessStartInfo(processPath) { ArgumentList = { "agent" } };
    start.UseShellExecute = false;
    return start;
}
