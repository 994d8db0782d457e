using System.Reflection;

namespace AgentIdentity.Spiffe.Tests;

/// <summary>The core package's surface rules, applied to this package by reflection.</summary>
public sealed class ConventionTests
{
    private static readonly Type[] PublicTypes = typeof(WorkloadApiX509Source).Assembly.GetExportedTypes();

    [Fact]
    public void PublicTypes_LiveInTheSpiffeOrDependencyInjectionNamespace()
    {
        var stray = PublicTypes.Where(t => t.Namespace is not ("AgentIdentity.Spiffe" or "Microsoft.Extensions.DependencyInjection")).Select(t => t.FullName).ToList();
        Assert.Empty(stray);
    }

    [Fact]
    public void Exceptions_DeriveFromAgentIdentityExceptionOrFormatException()
    {
        var exceptions = PublicTypes.Where(t => typeof(Exception).IsAssignableFrom(t)).ToList();
        Assert.NotEmpty(exceptions);
        Assert.All(exceptions, t => Assert.True(t.IsSubclassOf(typeof(AgentIdentityException)) || t.IsSubclassOf(typeof(FormatException)), t.Name));
    }

    [Fact]
    public void PublicAsyncMethods_TakeACancellationTokenLast()
    {
        var offenders = PublicTypes
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => typeof(Task).IsAssignableFrom(m.ReturnType) || (m.ReturnType.IsGenericType && m.ReturnType.GetGenericTypeDefinition() == typeof(ValueTask<>)))
            .Where(m => m.Name != nameof(IAsyncDisposable.DisposeAsync))
            .Where(m => m.GetParameters() is var p && (p.Length == 0 || p[^1].ParameterType != typeof(CancellationToken)))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void PublicTypes_AreSealedOrStatic()
    {
        var open = PublicTypes.Where(t => t.IsClass && !t.IsSealed && !t.IsAbstract && !typeof(Delegate).IsAssignableFrom(t)).ToList();
        Assert.Empty(open);
    }

    [Fact]
    public void GeneratedProtoTypes_AreNotPublic()
    {
        Assert.DoesNotContain(PublicTypes, t => t.Namespace == "AgentIdentity.Spiffe.Proto");
    }

    [Fact]
    public void Proto_HasNoPackage_SoMethodPathsAreSpiffeWorkloadApi()
    {
        Assert.Equal("SpiffeWorkloadAPI", Proto.SpiffeWorkloadAPI.Descriptor.FullName);
        Assert.Equal("", Proto.WorkloadReflection.Descriptor.Package);
        Assert.Equal(1, Proto.X509SVID.Descriptor.FindFieldByName("spiffe_id").FieldNumber);
        Assert.Equal(2, Proto.X509SVID.Descriptor.FindFieldByName("x509_svid").FieldNumber);
        Assert.Equal(3, Proto.X509SVID.Descriptor.FindFieldByName("x509_svid_key").FieldNumber);
        Assert.Equal(4, Proto.X509SVID.Descriptor.FindFieldByName("bundle").FieldNumber);
        Assert.Equal(5, Proto.X509SVID.Descriptor.FindFieldByName("hint").FieldNumber);
        Assert.Equal(3, Proto.X509SVIDResponse.Descriptor.FindFieldByName("federated_bundles").FieldNumber);
        Assert.Equal(2, Proto.JWTSVIDRequest.Descriptor.FindFieldByName("spiffe_id").FieldNumber);
    }
}
