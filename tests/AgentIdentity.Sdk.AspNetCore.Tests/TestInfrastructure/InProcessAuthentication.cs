using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AspNetCore.Tests.TestInfrastructure;

/// <summary>Runs the AgentIdentity handler in-process on a DefaultHttpContext (time-driven tests; TLS is covered elsewhere).</summary>
internal static class InProcessAuthentication
{
    public static ServiceProvider BuildServices(ITrustBundleSource bundles, TimeProvider time, Action<AgentIdentityAuthenticationOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var collection = new ServiceCollection();
        collection.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Debug));
        collection.AddSingleton(time);
        collection.AddSingleton(bundles);
        collection.AddAuthentication().AddAgentIdentity(configure);
        collection.AddAuthorization();
        services?.Invoke(collection);
        return collection.BuildServiceProvider();
    }

    public static DefaultHttpContext CreateContext(IServiceProvider services, X509Certificate2 leaf, IEnumerable<X509Certificate2>? intermediates = null)
    {
        // A scope per request, as ASP.NET Core does: the handler provider caches handlers per scope.
        var context = new DefaultHttpContext { RequestServices = services.CreateScope().ServiceProvider };
        context.Connection.ClientCertificate = leaf;
        if (intermediates is not null)
        {
            context.Features.Set(new AgentTlsChainFeature { Intermediates = [.. intermediates] });
        }

        return context;
    }

    public static Task<AuthenticateResult> AuthenticateAsync(IServiceProvider services, X509Certificate2 leaf, IEnumerable<X509Certificate2>? intermediates = null) =>
        CreateContext(services, leaf, intermediates).AuthenticateAsync(AgentIdentityAuthenticationDefaults.AuthenticationScheme);
}

/// <summary>A trust bundle source whose bundles a test can replace.</summary>
internal sealed class MutableBundleSource(ITrustBundleSource initial) : ITrustBundleSource
{
    public ITrustBundleSource Current { get; set; } = initial;

    public bool TryGetBundle(TrustDomain trustDomain, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TrustBundle? bundle) =>
        Current.TryGetBundle(trustDomain, out bundle);
}
