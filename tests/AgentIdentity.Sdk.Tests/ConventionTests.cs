using System.Reflection;

namespace AgentIdentity.Tests;

/// <summary>Rules that hold across the public surface of the core package, checked by reflection.</summary>
public sealed class ConventionTests
{
    private static readonly Type[] PublicTypes = typeof(SpiffeId).Assembly.GetExportedTypes();

    [Fact]
    public void PublicTypes_LiveInTheRootOrDependencyInjectionNamespace()
    {
        var stray = PublicTypes.Where(t => t.Namespace is not ("AgentIdentity" or "Microsoft.Extensions.DependencyInjection") && !t.Namespace!.StartsWith("AgentIdentity.", StringComparison.Ordinal)).ToList();
        Assert.Empty(stray);
    }

    [Fact]
    public void IdentifierValueTypes_AreReadOnlyStructsWithOrdinalParsing()
    {
        foreach (var type in new[] { typeof(SpiffeId), typeof(TrustDomain) })
        {
            Assert.True(type.IsValueType);
            Assert.NotNull(type.GetCustomAttribute<System.Runtime.CompilerServices.IsReadOnlyAttribute>());
            Assert.Contains(type.GetInterfaces(), i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ISpanParsable<>));
        }
    }

    [Fact]
    public void Exceptions_DeriveFromAgentIdentityExceptionOrFormatException()
    {
        // Parse errors are FormatExceptions, as ISpanParsable callers expect; everything else is an AgentIdentityException.
        var exceptions = PublicTypes.Where(t => typeof(Exception).IsAssignableFrom(t) && t != typeof(AgentIdentityException));
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
    public void PublicTypes_AreSealedOrAbstractOrInterfaces()
    {
        // An open class is allowed only as the designed base of a public family (IdentityUnavailableException, whose subclass
        // IdentityRevokedException every catch of the base must also catch, as Polly's BrokenCircuitException has IsolatedCircuitException).
        var open = PublicTypes.Where(t => t.IsClass && !t.IsSealed && !t.IsAbstract && !typeof(Delegate).IsAssignableFrom(t)
            && !PublicTypes.Any(d => d.BaseType == t)).ToList();
        Assert.Empty(open);
        Assert.Equal(typeof(IdentityUnavailableException), typeof(IdentityRevokedException).BaseType);
    }
}
