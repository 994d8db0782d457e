using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.IntegrationTests.Infrastructure;

/// <summary>Builds the agent side: AddAgentIdentity on the test CA and fake clock, plus one named HttpClient "erp".</summary>
internal static class AgentClient
{
    public const string Name = "erp";

    public static ServiceProvider Build(
        TestPki pki,
        Uri baseAddress,
        Action<IHttpClientBuilder> configureClient,
        IX509SvidIssuer? issuer = null,
        TimeSpan? lifetime = null,
        AgentPolicy? policy = null,
        IX509SvidSource? source = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(pki.Time);
        services.AddSingleton<IX509SvidIssuer>(issuer ?? pki.Ca);
        services.AddSingleton<ITrustBundleSource>(pki.Ca);
        services.AddAgentIdentity(o =>
        {
            o.TrustDomain = pki.TrustDomain.Name;
            o.AgentName = "planner";
            o.Credential.Lifetime = lifetime ?? TimeSpan.FromHours(1);
            o.Credential.Policy = policy;
        });
        if (source is not null)
        {
            services.AddSingleton(source); // the agent's certificates come from here instead of the CA-issued credential
        }

        configureClient(services.AddHttpClient(Name, c => c.BaseAddress = baseAddress));
        return services.BuildServiceProvider();
    }

    public static async Task<AgentCredential> ReadyAsync(IServiceProvider services)
    {
        var credential = services.GetRequiredService<AgentCredential>();
        await credential.WhenReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return credential;
    }

    /// <summary>Advances the fake clock past the renewal point and waits (signal, not sleep) until the credential has rotated.</summary>
    public static async Task<X509Svid> RotateAsync(TestPki pki, AgentCredential credential, TimeSpan advance)
    {
        var before = credential.GetCurrent();
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = before.ChangeToken.RegisterChangeCallback(_ => changed.TrySetResult(), null);
        pki.Clock.Advance(advance);
        await changed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var after = credential.GetCurrent();
        Assert.NotEqual(before.Thumbprint, after.Thumbprint);
        return after;
    }
}
