using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;

namespace AgentIdentity;

/// <summary>
/// The token handler, the top of an agent's <see cref="HttpClient"/>: it adds the attribution headers from <see cref="AgentCallContext"/>
/// and, when bound tokens are configured, owns the RFC 8705 token of the request's certificate generation. It takes the current
/// certificate, its token (<see cref="BoundTokenCache"/>), and sends the request bound to that certificate; the generation handler below
/// sends it with exactly that certificate. If the certificate rotates before anything is sent, it starts over with the new certificate
/// (the one retry-on-rotation loop, <see cref="WithCurrentCertificateAsync"/>); if the resource server answers 401 <c>invalid_token</c>,
/// it drops the token and retries once.
/// </summary>
internal sealed class BoundTokenHandler : DelegatingHandler
{
    /// <summary>How many times a rotation may restart one request (or one token look-up) before the error is reported.</summary>
    private const int MaxRotationRetries = 3;

    private readonly bool _ownsState;

    /// <summary>The handler IHttpClientFactory builds around its primary handler; the state is owned by <see cref="AgentHttpClientHandlers"/>.</summary>
    public BoundTokenHandler(AgentHttpClientHandlers.ClientState state)
    {
        State = state;
        Name = string.Empty;
    }

    /// <summary>A stand-alone handler (<see cref="AgentHttpClient.CreateHandler"/>) over the state's generation handler; disposing it disposes the state when owned.</summary>
    public BoundTokenHandler(AgentHttpClientHandlers.ClientState state, string name, bool ownsState)
        : base(new NonDisposingHandler(state.Generations))
    {
        State = state;
        Name = name;
        _ownsState = ownsState;
    }

    internal AgentHttpClientHandlers.ClientState State { get; }

    internal string Name { get; }

    /// <summary>
    /// The one retry-on-rotation loop: runs <paramref name="action"/> with the current certificate and, when the certificate rotated
    /// before anything was sent (<see cref="SvidChangedException"/>), runs it again with the new one, up to three times.
    /// </summary>
    internal static async ValueTask<TResult> WithCurrentCertificateAsync<TState, TResult>(
        GenerationHandler generations,
        Func<X509Svid, TState, CancellationToken, ValueTask<TResult>> action,
        TState state,
        CancellationToken cancellationToken)
    {
        for (var rotations = 0; ; rotations++)
        {
            try
            {
                return await action(generations.GetCurrentSvid(), state, cancellationToken).ConfigureAwait(false);
            }
            catch (SvidChangedException) when (rotations < MaxRotationRetries)
            {
                // Nothing was sent with the old certificate (or its token), so any method may start over.
            }
        }
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (State.Options.SendAttributionHeaders && AgentCallContext.Current is { } context)
        {
            AddAttribution(request, context);
        }

        var activity = AgentIdentityTelemetry.Source.StartActivity(AgentIdentityTelemetry.HttpSpan);
        return activity is null ? SendCoreAsync(request, cancellationToken) : SendTracedAsync(request, activity, cancellationToken);
    }

    private Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        State.Tokens is { } tokens
            ? SendWithTokenAsync(request, tokens, cancellationToken)
            : base.SendAsync(request, cancellationToken);

    /// <summary>The request as a span of its own (a child of the tool call it serves); the HTTP client span and the service's spans
    /// below it carry the same trace through <c>traceparent</c>. The URL is not recorded (its query may carry data); the host is.</summary>
    private async Task<HttpResponseMessage> SendTracedAsync(HttpRequestMessage request, Activity activity, CancellationToken cancellationToken)
    {
        using (activity)
        {
            if (activity.IsAllDataRequested)
            {
                activity.DisplayName = $"{AgentIdentityTelemetry.HttpSpan} {request.Method.Method}";
                activity.SetTag(TelemetryTags.HttpClientName, State.Name);
                activity.SetTag(TelemetryTags.HttpRequestMethod, request.Method.Method);
                activity.SetTag(TelemetryTags.TokenBound, State.Tokens is not null);
                if (request.RequestUri is { IsAbsoluteUri: true } uri)
                {
                    activity.SetTag(TelemetryTags.ServerAddress, uri.Host);
                    activity.SetTag(TelemetryTags.ServerPort, uri.Port);
                }
            }

            try
            {
                var response = await SendCoreAsync(request, cancellationToken).ConfigureAwait(false);
                activity.SetTag(TelemetryTags.HttpResponseStatusCode, (int)response.StatusCode);
                if ((int)response.StatusCode >= 400)
                {
                    activity.SetTag(TelemetryTags.ErrorType, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                    activity.SetStatus(ActivityStatusCode.Error);
                }

                return response;
            }
            catch (Exception ex)
            {
                activity.SetFailure(ex);
                throw;
            }
        }
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException("The agent HttpClient supports only asynchronous sends; use SendAsync.");

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsState)
        {
            State.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task<HttpResponseMessage> SendWithTokenAsync(HttpRequestMessage request, BoundTokenCache tokens, CancellationToken cancellationToken)
    {
        var retriedInvalidToken = false;
        while (true)
        {
            var (response, token) = await WithCurrentCertificateAsync(
                State.Generations,
                static (svid, s, ct) => s.Handler.SendBoundAsync(s.Request, s.Tokens, svid, ct),
                (Handler: this, Request: request, Tokens: tokens),
                cancellationToken).ConfigureAwait(false);

            if (response.StatusCode == HttpStatusCode.Unauthorized && !retriedInvalidToken && IsInvalidToken(response) && IsReplayable(request))
            {
                retriedInvalidToken = true;
                State.Logger.BoundTokenRejected(State.Name);
                tokens.Invalidate(token);
                response.Dispose();
                AgentRequestState.Of(request).FirstUnsafeAttempt = null; // a deliberate, single retry: the server refused the token, not the call
                continue;
            }

            return response;
        }
    }

    /// <summary>One send: the token of <paramref name="svid"/>, and the request bound to <paramref name="svid"/>.</summary>
    private async ValueTask<(HttpResponseMessage Response, BoundToken Token)> SendBoundAsync(HttpRequestMessage request, BoundTokenCache tokens, X509Svid svid, CancellationToken cancellationToken)
    {
        var token = await tokens.GetTokenAsync(svid, cancellationToken).ConfigureAwait(false);
        AgentRequestState.Of(request).BoundTo = svid;
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.AccessToken);
        return (await base.SendAsync(request, cancellationToken).ConfigureAwait(false), token);
    }

    private static bool IsInvalidToken(HttpResponseMessage response)
    {
        foreach (var challenge in response.Headers.WwwAuthenticate)
        {
            if (string.Equals(challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase) &&
                challenge.Parameter is { } parameter &&
                parameter.Contains("error=\"invalid_token\"", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsReplayable(HttpRequestMessage request) =>
        request.Content is null or ByteArrayContent or ReadOnlyMemoryContent;

    private static void AddAttribution(HttpRequestMessage request, AgentCallContext context)
    {
        Set(request, AttributionHeaders.AgentId, context.AgentId.IsEmpty ? null : context.AgentId.ToString());
        Set(request, AttributionHeaders.ToolName, context.ToolName);
        Set(request, AttributionHeaders.ToolCallId, context.ToolCallId);
        Set(request, AttributionHeaders.TaskId, context.TaskId);
        Set(request, AttributionHeaders.ConversationId, context.ConversationId);
    }

    private static void Set(HttpRequestMessage request, string name, string? value)
    {
        if (string.IsNullOrEmpty(value) || request.Headers.Contains(name))
        {
            return;
        }

        // Header values must be visible ASCII; anything else (including CR/LF) is percent-encoded, so no header injection is possible.
        foreach (var c in value)
        {
            if (c is < (char)0x21 or > (char)0x7E or '%')
            {
                value = Uri.EscapeDataString(value);
                break;
            }
        }

        request.Headers.TryAddWithoutValidation(name, value);
    }
}
