using System.Globalization;
using AgentIdentity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Makes an <see cref="HttpClient"/> call out as an agent: mTLS with the agent's current X.509-SVID (rotation-safe), the server
/// authenticated by SPIFFE ID, attribution headers and optional RFC 8705 certificate-bound access tokens.</summary>
public static class AgentHttpClientBuilderExtensions
{
    /// <summary>Adds agent identity to the client with default options (the default agent; servers of the agent's own trust domain).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once. Requires <c>services.AddAgentIdentity(...)</c>. It replaces the primary handler, so call it
    /// before (outside of) <c>AddStandardResilienceHandler()</c>; see docs/http-client.md.</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return AddCore(builder);
    }

    /// <summary>Adds agent identity to the client and configures its options (named after the client).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Safe to call more than once; configurations accumulate.</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder, Action<AgentHttpClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(builder.Name, configure);
        return AddCore(builder);
    }

    /// <summary>Adds agent identity to the client, binding its options from configuration (AOT-safe, no reflection).</summary>
    /// <param name="builder">The HttpClient builder.</param>
    /// <param name="section">A section with keys such as <c>ServerId</c>, <c>AgentName</c>, <c>AllowTlsResume</c>, <c>Token:Authority</c>.</param>
    /// <returns>The same builder.</returns>
    /// <remarks>Unknown keys and bad values fail options validation at start-up with a message that names the key.</remarks>
    public static IHttpClientBuilder AddAgentIdentity(this IHttpClientBuilder builder, IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        builder.Services.Configure<AgentHttpClientOptions>(builder.Name, options => AgentHttpClientOptionsBinder.Bind(section, options));
        return AddCore(builder);
    }

    private static IHttpClientBuilder AddCore(IHttpClientBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<AgentHttpClientHandlers>();
        services.TryAddSingleton(sp => new AgentAccessTokens(sp.GetRequiredService<AgentHttpClientHandlers>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AgentHttpClientOptions>, AgentHttpClientOptionsValidator>());

        var registrations = (AgentHttpClientRegistrations?)services
            .FirstOrDefault(d => d.ServiceType == typeof(AgentHttpClientRegistrations) && d.ImplementationInstance is not null)?.ImplementationInstance;
        if (registrations is null)
        {
            registrations = new AgentHttpClientRegistrations();
            services.AddSingleton(registrations);
        }

        if (!registrations.Names.Add(builder.Name))
        {
            return builder;
        }

        var name = builder.Name;
        services.AddOptions<AgentHttpClientOptions>(name).ValidateOnStart();
        builder.ConfigurePrimaryHttpMessageHandler(sp => new NonDisposingHandler(sp.GetRequiredService<AgentHttpClientHandlers>().Get(name).Generations));
        builder.AddHttpMessageHandler(sp => new BoundTokenHandler(sp.GetRequiredService<AgentHttpClientHandlers>().Get(name)));
        return builder;
    }
}

internal sealed class AgentHttpClientRegistrations
{
    public HashSet<string> Names { get; } = new(StringComparer.Ordinal);
}

internal static class AgentHttpClientOptionsBinder
{
    public static void Bind(IConfigurationSection section, AgentHttpClientOptions options)
    {
        foreach (var child in section.GetChildren())
        {
            var value = child.Value;
            switch (child.Key.ToUpperInvariant())
            {
                case "AGENTNAME": options.AgentName = value; break;
                case "SERVERID": options.ServerId = value; break;
                case "USEWEBPKISERVERVALIDATION": options.UseWebPkiServerValidation = Bool(child); break;
                case "ALLOWTLSRESUME": options.AllowTlsResume = Bool(child); break;
                case "POOLEDCONNECTIONLIFETIME": options.PooledConnectionLifetime = Time(child); break;
                case "DRAINTIMEOUT": options.DrainTimeout = Time(child); break;
                case "SENDATTRIBUTIONHEADERS": options.SendAttributionHeaders = Bool(child); break;
                case "ALLOWUNSAFEMETHODRETRIES": options.AllowUnsafeMethodRetries = Bool(child); break;
                case "TOKEN": BindToken(child, options.Token); break;
                default: throw Unknown(child);
            }
        }
    }

    private static void BindToken(IConfigurationSection section, BoundTokenOptions token)
    {
        foreach (var child in section.GetChildren())
        {
            var value = child.Value;
            switch (child.Key.ToUpperInvariant())
            {
                case "AUTHORITY": token.Authority = Url(child); break;
                case "TOKENENDPOINT": token.TokenEndpoint = Url(child); break;
                case "CLIENTID": token.ClientId = value; break;
                case "SCOPE": token.Scope = value; break;
                case "AUDIENCE": token.Audience = value; break;
                case "SERVERID": token.ServerId = value; break;
                case "USEWEBPKISERVERVALIDATION": token.UseWebPkiServerValidation = Bool(child); break;
                case "ACCEPTOPAQUETOKENSFROMBINDINGSERVERS": token.AcceptOpaqueTokensFromBindingServers = Bool(child); break;
                case "REQUESTTIMEOUT": token.RequestTimeout = Time(child); break;
                case "AUTHENTICATIONMETHOD":
                    token.AuthenticationMethod = value switch
                    {
                        "tls_client_auth" or "TlsClientAuth" => TlsClientAuthenticationMethod.TlsClientAuth,
                        "self_signed_tls_client_auth" or "SelfSignedTlsClientAuth" => TlsClientAuthenticationMethod.SelfSignedTlsClientAuth,
                        _ => throw Bad(child, "tls_client_auth or self_signed_tls_client_auth"),
                    };
                    break;
                default: throw Unknown(child);
            }
        }
    }

    private static bool Bool(IConfigurationSection s) => bool.TryParse(s.Value, out var b) ? b : throw Bad(s, "true or false");

    private static TimeSpan Time(IConfigurationSection s) =>
        TimeSpan.TryParse(s.Value, CultureInfo.InvariantCulture, out var t) ? t : throw Bad(s, "a time span such as 00:05:00");

    private static Uri Url(IConfigurationSection s) =>
        Uri.TryCreate(s.Value, UriKind.Absolute, out var u) ? u : throw Bad(s, "an absolute URI such as https://as.example/");

    private static InvalidOperationException Bad(IConfigurationSection s, string expected) =>
        new($"Configuration '{s.Path}' has value '{s.Value}'; expected {expected}.");

    private static InvalidOperationException Unknown(IConfigurationSection s) =>
        new($"Configuration '{s.Path}' is not an AgentHttpClientOptions setting (check the spelling; see docs/http-client.md).");
}
