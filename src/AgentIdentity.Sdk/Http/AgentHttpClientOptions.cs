using System.ComponentModel.DataAnnotations;
using System.Net.Http;
using Microsoft.Extensions.Options;

namespace AgentIdentity;

/// <summary>Options of an <see cref="HttpClient"/> that calls out as an agent: mTLS with the agent's current X.509-SVID, server
/// authentication by SPIFFE ID, and optionally RFC 8705 certificate-bound access tokens. Named after the client.</summary>
public sealed class AgentHttpClientOptions
{
    /// <summary>Gets or sets a value indicating whether the server must be one the SVID's effective policy lists in its services
    /// (the default). Off only for the SDK's own control-plane clients (the revocation feed), as for the token endpoint.</summary>
    internal bool EnforceServicePolicy { get; set; } = true;

    /// <summary>Gets or sets the name of the agent (registered with <c>AddAgent(name)</c>) whose credential the client presents.</summary>
    /// <value>The default is <see langword="null"/>: the default agent (<see cref="IX509SvidSource"/>).</value>
    [SpiffePathSegment]
    public string? AgentName { get; set; }

    /// <summary>Gets or sets the authorizer that decides which server SPIFFE IDs the client may talk to, after the server's chain has been
    /// verified against the trust bundle of its trust domain.</summary>
    /// <value>The default is <see langword="null"/>: <see cref="ServerId"/> when set, otherwise any member of the agent's own trust domain.</value>
    public PeerAuthorizer? ServerAuthorizer { get; set; }

    /// <summary>Gets or sets the expected server SPIFFE ID, or a pattern ending in <c>/*</c> (configuration-friendly form of
    /// <see cref="ServerAuthorizer"/>; ignored when that is set).</summary>
    public string? ServerId { get; set; }

    /// <summary>Gets or sets a value indicating whether the server is authenticated by the platform's Web PKI (system trust store and
    /// host name) instead of as an X.509-SVID. Use only for servers that do not have an SVID; the client certificate is still presented.</summary>
    /// <value>The default is <see langword="false"/>.</value>
    public bool UseWebPkiServerValidation { get; set; }

    /// <summary>Gets or sets the trust bundles used to verify server certificates.</summary>
    /// <value>The default is <see langword="null"/>: the registered <see cref="ITrustBundleSource"/>, else the bundle that came with the agent's credential.</value>
    public ITrustBundleSource? TrustBundleSource { get; set; }

    /// <summary>Gets or sets a value indicating whether TLS session resumption is allowed.</summary>
    /// <value>The default is <see langword="false"/>: .NET 10 on Linux mis-reports the client certificate of resumed TLS 1.3 sessions
    /// (dotnet/runtime#123238). Resumption is per certificate, so it never carries an old certificate across a rotation.</value>
    public bool AllowTlsResume { get; set; }

    /// <summary>Gets or sets the longest time a pooled connection is reused. Each certificate generation further bounds it by the
    /// certificate's remaining lifetime.</summary>
    /// <value>The default is 5 minutes.</value>
    [PositiveTimeSpan]
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how long a superseded certificate generation may keep serving requests and response streams that started
    /// on it before it is disposed anyway. It is disposed earlier, as soon as none is in flight.</summary>
    /// <value>The default is 2 minutes.</value>
    [PositiveTimeSpan(AllowZero = true)]
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Gets or sets a callback that adjusts each generation's <see cref="SocketsHttpHandler"/> (proxy, timeouts, HTTP version
    /// policy). It must not replace <see cref="SocketsHttpHandler.SslOptions"/>.</summary>
    public Action<SocketsHttpHandler>? ConfigureHandler { get; set; }

    /// <summary>Gets or sets a value indicating whether a handler inside the client (a retry strategy) may send a POST, PUT, PATCH, DELETE
    /// or CONNECT request a second time. When not allowed, such a retry fails with <see cref="UnsafeRetryRefusedException"/> and nothing
    /// is sent again.</summary>
    /// <value>The default is <see langword="false"/>: an agent must not repeat a side effect because a response was slow or a 503.</value>
    public bool AllowUnsafeMethodRetries { get; set; }

    /// <summary>Gets or sets a value indicating whether the <see cref="AgentCallContext"/> is sent as attribution headers.</summary>
    /// <value>The default is <see langword="true"/>.</value>
    public bool SendAttributionHeaders { get; set; } = true;

    /// <summary>Gets the RFC 8705 certificate-bound access token settings. Tokens are used only when <see cref="BoundTokenOptions.Authority"/>
    /// or <see cref="BoundTokenOptions.TokenEndpoint"/> is set.</summary>
    [ValidateObjectMembers(typeof(BoundTokenOptionsValidator))]
    public BoundTokenOptions Token { get; } = new();

    internal PeerAuthorizer? GetServerAuthorizer(TrustDomain agentTrustDomain) =>
        ServerAuthorizer ?? (ServerId is { } pattern ? PeerAuthorizers.Pattern(pattern) : PeerAuthorizers.MemberOf(agentTrustDomain));
}

/// <summary>The attribute rules of <see cref="AgentHttpClientOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class AgentHttpClientOptionsValidator : IValidateOptions<AgentHttpClientOptions>;

/// <summary>The rules of <see cref="AgentHttpClientOptions"/> that attributes cannot express: the server pattern (only used without an
/// authorizer) and the token rules.</summary>
internal sealed class AgentHttpClientOptionsRules : IValidateOptions<AgentHttpClientOptions>
{
    public static AgentHttpClientOptionsRules Instance { get; } = new();

    public ValidateOptionsResult Validate(string? name, AgentHttpClientOptions options)
    {
        var displayName = OptionsValidation.DisplayName(name, nameof(AgentHttpClientOptions));
        var builder = new ValidateOptionsResultBuilder();
        if (BoundTokenOptionsRules.ServerIdError(options.ServerId, options.ServerAuthorizer) is { } serverIdError)
        {
            builder.AddError($"{displayName}.ServerId: {serverIdError}", nameof(AgentHttpClientOptions.ServerId));
        }

        builder.AddResult(BoundTokenOptionsRules.Instance.Validate($"{displayName}.Token", options.Token));
        return builder.Build();
    }

    /// <summary>Runs every rule outside of dependency injection.</summary>
    public static string? ValidateAll(string name, AgentHttpClientOptions options) =>
        OptionsValidation.Validate(name, options, new AgentHttpClientOptionsValidator(), Instance);
}
