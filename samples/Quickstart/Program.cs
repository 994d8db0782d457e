// AgentIdentity quickstart: two agent instances, each with its own short-lived X.509-SVID that rotates itself.
// Run: dotnet run --project samples/Quickstart
using AgentIdentity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = Environments.Development, Args = args });
builder.Logging.SetMinimumLevel(LogLevel.Warning); // keep the screen for the identities; the dev-CA warning still shows

builder.Services
    .AddAgentIdentity(options =>
    {
        options.TrustDomain = "quickstart.example";
        options.Credential.Lifetime = TimeSpan.FromSeconds(6); // short, so that rotation happens on screen (default: 1 hour)
    })
    .UseDevelopmentCertificateAuthority();

using var host = builder.Build();
await host.StartAsync();

var factory = host.Services.GetRequiredService<IAgentCredentialFactory>();
await using var planner = await factory.CreateAsync("planner");
await using var researcher = await factory.CreateAsync("researcher");

const int RotationsToShow = 2;
var done = new[] { Watch(planner, "planner"), Watch(researcher, "researcher") };
await Task.WhenAll(done).WaitAsync(TimeSpan.FromSeconds(60));

Console.WriteLine();
Console.WriteLine($"Both agents rotated {RotationsToShow} times with no code of their own. Distinct identities: {planner.Id != researcher.Id}.");
await host.StopAsync();
return 0;

static Task Watch(AgentCredential credential, string label)
{
    var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var rotations = 0;
    Print(credential.GetCurrent(), label, "issued ");
    ChangeToken.OnChange(credential.GetChangeToken, () =>
    {
        Print(credential.GetCurrent(), label, "rotated");
        if (++rotations == RotationsToShow)
        {
            finished.TrySetResult();
        }
    });
    return finished.Task;
}

static void Print(X509Svid svid, string label, string what) =>
    Console.WriteLine($"[{label,-10}] {what} {svid.Id}  serial {svid.SerialNumber[..12]}…  expires {svid.NotAfter:HH:mm:ss}Z");
