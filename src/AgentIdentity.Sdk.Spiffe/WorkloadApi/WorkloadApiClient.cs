using System.Text;
using System.Text.Json;
using AgentIdentity.Spiffe.Proto;
using Grpc.Core;
using Grpc.Net.Client;

namespace AgentIdentity.Spiffe;

/// <summary>
/// One-shot Workload API calls: JWT-SVIDs, JWT bundles and server-side JWT-SVID validation. For the X.509-SVID stream use
/// <see cref="WorkloadApiX509Source"/>. Thread-safe; every call carries the <c>workload.spiffe.io: true</c> header.
/// </summary>
public sealed class WorkloadApiClient : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly SpiffeWorkloadAPI.SpiffeWorkloadAPIClient _client;

    /// <summary>Initializes a new instance of the <see cref="WorkloadApiClient"/> class.</summary>
    /// <param name="options">The options; <see langword="null"/> to read the address from <c>SPIFFE_ENDPOINT_SOCKET</c>.</param>
    /// <exception cref="FormatException">The address is invalid.</exception>
    /// <exception cref="InvalidOperationException">No address is configured and <c>SPIFFE_ENDPOINT_SOCKET</c> is not set.</exception>
    public WorkloadApiClient(WorkloadApiOptions? options = null)
    {
        var copy = options?.Clone() ?? new WorkloadApiOptions();
        copy.Validate();
        Address = copy.ResolveAddress();
        _channel = WorkloadApiChannel.Create(Address);
        _client = WorkloadApiChannel.CreateClient(_channel);
    }

    /// <summary>Gets the endpoint address.</summary>
    public WorkloadApiAddress Address { get; }

    /// <summary>Fetches JWT-SVIDs for the audiences: one per identity this workload is entitled to, or only <paramref name="spiffeId"/>.</summary>
    /// <param name="audiences">The audiences; at least one.</param>
    /// <param name="spiffeId">The identity to fetch, or <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The JWT-SVIDs, in the server's order (the first is the default identity).</returns>
    /// <exception cref="ArgumentException">No audience was given.</exception>
    /// <exception cref="WorkloadApiException">The server refused (for example <c>PermissionDenied</c>) or is unreachable.</exception>
    /// <exception cref="WorkloadApiResponseException">The response breaks the spec.</exception>
    public async Task<IReadOnlyList<JwtSvid>> FetchJwtSvidsAsync(IEnumerable<string> audiences, SpiffeId? spiffeId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audiences);
        var request = new JWTSVIDRequest();
        request.Audience.AddRange(audiences);
        if (request.Audience.Count == 0 || request.Audience.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("At least one non-empty audience is required for a JWT-SVID.", nameof(audiences));
        }

        if (spiffeId is { } id)
        {
            request.SpiffeId = id.ToString();
        }

        JWTSVIDResponse response;
        try
        {
            response = await _client.FetchJWTSVIDAsync(request, new CallOptions(WorkloadApiChannel.SecurityHeader(), cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            throw Failed("FetchJWTSVID", ex);
        }

        if (response.Svids.Count == 0)
        {
            throw new WorkloadApiResponseException("FetchJWTSVID returned no SVIDs (svids is required and must hold at least one).");
        }

        var result = new List<JwtSvid>(response.Svids.Count);
        foreach (var svid in response.Svids)
        {
            result.Add(ParseJwtSvid(svid));
        }

        return result;
    }

    /// <summary>Fetches the JWT-SVID of the default identity (or of <paramref name="spiffeId"/>) for one audience.</summary>
    /// <param name="audience">The audience.</param>
    /// <param name="spiffeId">The identity, or <see langword="null"/> for the default (first) one.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The JWT-SVID.</returns>
    /// <exception cref="WorkloadApiException">The server refused or is unreachable.</exception>
    public async Task<JwtSvid> FetchJwtSvidAsync(string audience, SpiffeId? spiffeId = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(audience);
        var svids = await FetchJwtSvidsAsync([audience], spiffeId, cancellationToken).ConfigureAwait(false);
        return svids[0];
    }

    /// <summary>Fetches the current JWT bundles (the first message of the <c>FetchJWTBundles</c> stream).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The JWT bundles by trust domain. Use them for JWT-SVIDs only.</returns>
    /// <exception cref="WorkloadApiException">The server refused or is unreachable.</exception>
    /// <exception cref="WorkloadApiResponseException">A bundle is malformed.</exception>
    public async Task<TrustBundleSet> FetchJwtBundlesAsync(CancellationToken cancellationToken = default)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            using var call = _client.FetchJWTBundles(new JWTBundlesRequest(), new CallOptions(WorkloadApiChannel.SecurityHeader(), cancellationToken: cancel.Token));
            if (!await call.ResponseStream.MoveNext(cancel.Token).ConfigureAwait(false))
            {
                throw new WorkloadApiException("FetchJWTBundles ended without sending the bundles.", StatusCode.Unavailable);
            }

            var response = call.ResponseStream.Current;
            await cancel.CancelAsync().ConfigureAwait(false);
            return ParseJwtBundles(response);
        }
        catch (RpcException ex) when (!cancel.IsCancellationRequested || cancellationToken.IsCancellationRequested)
        {
            throw Failed("FetchJWTBundles", ex);
        }
    }

    /// <summary>Asks the server to validate a JWT-SVID (the spec's SHOULD-use path).</summary>
    /// <param name="token">The token.</param>
    /// <param name="audience">The audience it must name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The SPIFFE ID and the claims as JSON.</returns>
    /// <exception cref="WorkloadApiException">The server rejected the token (<c>InvalidArgument</c>) or the call failed.</exception>
    public async Task<(SpiffeId Id, string ClaimsJson)> ValidateJwtSvidAsync(string token, string audience, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(token);
        ArgumentException.ThrowIfNullOrEmpty(audience);
        try
        {
            var response = await _client.ValidateJWTSVIDAsync(new ValidateJWTSVIDRequest { Audience = audience, Svid = token }, new CallOptions(WorkloadApiChannel.SecurityHeader(), cancellationToken: cancellationToken)).ConfigureAwait(false);
            if (!SpiffeId.TryParse(response.SpiffeId, out var id, out var error))
            {
                throw new WorkloadApiResponseException($"ValidateJWTSVID returned spiffe_id '{DisplayText.Truncate(response.SpiffeId)}', which is not a SPIFFE ID: {error}.");
            }

            return (id, response.Claims is null ? "{}" : Google.Protobuf.JsonFormatter.Default.Format(response.Claims));
        }
        catch (RpcException ex)
        {
            throw Failed("ValidateJWTSVID", ex);
        }
    }

    internal static TrustBundleSet ParseJwtBundles(JWTBundlesResponse response)
    {
        var bundles = new List<TrustBundle>();
        foreach (var (key, value) in response.Bundles)
        {
            if (!TrustDomain.TryParse(key, out var td, out var error))
            {
                throw new WorkloadApiResponseException($"FetchJWTBundles has a key '{DisplayText.Truncate(key)}' that is not a trust domain: {error}.");
            }

            try
            {
                bundles.Add(TrustBundle.Parse(td, value.ToByteArray()));
            }
            catch (FormatException ex)
            {
                throw new WorkloadApiResponseException($"FetchJWTBundles sent a malformed JWT bundle for '{td}': {ex.Message}", ex);
            }
        }

        return new TrustBundleSet(bundles);
    }

    private static JwtSvid ParseJwtSvid(JWTSVID svid)
    {
        if (svid.SpiffeId.Length == 0 || svid.Svid.Length == 0)
        {
            throw new WorkloadApiResponseException($"FetchJWTSVID returned an SVID with an empty required field '{(svid.SpiffeId.Length == 0 ? "spiffe_id" : "svid")}'.");
        }

        if (!SpiffeId.TryParse(svid.SpiffeId, out var id, out var error))
        {
            throw new WorkloadApiResponseException($"FetchJWTSVID returned spiffe_id '{DisplayText.Truncate(svid.SpiffeId)}', which is not a SPIFFE ID: {error}.");
        }

        // Read (not verify) the claims this process needs to use the token: its audience and expiry.
        var parts = svid.Svid.Split('.');
        if (parts.Length != 3)
        {
            throw new WorkloadApiResponseException($"FetchJWTSVID returned a token for '{id}' that is not JWS compact.");
        }

        try
        {
            using var claims = JsonDocument.Parse(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1]));
            var root = claims.RootElement;
            var sub = root.GetProperty("sub").GetString();
            if (!string.Equals(sub, id.ToString(), StringComparison.Ordinal))
            {
                throw new WorkloadApiResponseException($"FetchJWTSVID returned a token whose 'sub' ({sub}) differs from spiffe_id '{id}'.");
            }

            var aud = root.GetProperty("aud");
            IReadOnlyList<string> audience = aud.ValueKind == JsonValueKind.Array ? [.. aud.EnumerateArray().Select(a => a.GetString() ?? string.Empty)] : [aud.GetString() ?? string.Empty];
            var exp = DateTimeOffset.FromUnixTimeSeconds(root.GetProperty("exp").GetInt64());
            return new JwtSvid(id, svid.Svid, svid.Hint.Length == 0 ? null : svid.Hint, audience, exp);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException or ArgumentOutOfRangeException)
        {
            throw new WorkloadApiResponseException($"FetchJWTSVID returned a token for '{id}' whose claims cannot be read ({ex.Message}).", ex);
        }
    }

    private WorkloadApiException Failed(string rpc, RpcException ex) =>
        new($"Workload API call {rpc} at {Address} failed with {ex.StatusCode}: {ex.Status.Detail}", ex.StatusCode, ex);

    /// <summary>Closes the channel.</summary>
    public void Dispose() => _channel.Dispose();
}
