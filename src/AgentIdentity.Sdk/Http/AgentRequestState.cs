using System.Net.Http;

namespace AgentIdentity;

/// <summary>What the two handlers of an agent HttpClient know about one request. It travels in the request's options, so that handlers
/// the application adds between them (a resilience handler) pass it along untouched.</summary>
/// <remarks>The token handler (<see cref="BoundTokenHandler"/>) writes <see cref="BoundTo"/>; the generation handler
/// (<see cref="GenerationHandler"/>) reads it and writes <see cref="FirstUnsafeAttempt"/>.</remarks>
internal sealed class AgentRequestState
{
    private static readonly HttpRequestOptionsKey<AgentRequestState> Key = new("AgentIdentity.Request");

    /// <summary>Gets or sets the certificate the request's bound token belongs to. The generation handler sends the request only with
    /// this certificate: when it is no longer the current one, nothing is sent and <see cref="SvidChangedException"/> tells the token
    /// handler to start over with the new certificate and its token.</summary>
    public X509Svid? BoundTo { get; set; }

    /// <summary>Gets or sets what the first send of an unsafe-method request ended with; a second send while it is set is a retry, which
    /// the generation handler refuses unless <see cref="AgentHttpClientOptions.AllowUnsafeMethodRetries"/> is set.</summary>
    public string? FirstUnsafeAttempt { get; set; }

    /// <summary>Returns the request's state, creating it on first use.</summary>
    public static AgentRequestState Of(HttpRequestMessage request)
    {
        if (!request.Options.TryGetValue(Key, out var state))
        {
            state = new AgentRequestState();
            request.Options.Set(Key, state);
        }

        return state;
    }

    /// <summary>Returns the request's state, or <see langword="null"/> when no handler has written any.</summary>
    public static AgentRequestState? Find(HttpRequestMessage request) =>
        request.Options.TryGetValue(Key, out var state) ? state : null;
}
