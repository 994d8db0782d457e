using AgentIdentity.Spiffe.Proto;
using Grpc.Core;

namespace AgentIdentity.Spiffe;

/// <summary>The gRPC service: attests the caller by its peer credentials, then streams its complete state.</summary>
internal sealed class WorkloadApiService(WorkloadApiState state) : SpiffeWorkloadAPI.SpiffeWorkloadAPIBase
{
    public override Task FetchX509SVID(X509SVIDRequest request, IServerStreamWriter<X509SVIDResponse> responseStream, ServerCallContext context) =>
        StreamAsync(context, "FetchX509SVID", (entries, ct) => state.BuildX509ResponseAsync(entries, ct), responseStream);

    public override Task FetchX509Bundles(X509BundlesRequest request, IServerStreamWriter<X509BundlesResponse> responseStream, ServerCallContext context) =>
        StreamAsync(context, "FetchX509Bundles", (entries, ct) => state.BuildBundlesResponseAsync(entries, ct), responseStream);

    public override Task FetchJWTBundles(JWTBundlesRequest request, IServerStreamWriter<JWTBundlesResponse> responseStream, ServerCallContext context) =>
        StreamAsync(context, "FetchJWTBundles", (entries, _) => Task.FromResult(JwtSvidMinter.BuildBundles(state)), responseStream);

    public override Task<JWTSVIDResponse> FetchJWTSVID(JWTSVIDRequest request, ServerCallContext context)
    {
        var caller = state.Authorize(context, "FetchJWTSVID");
        if (request.Audience.Count == 0 || request.Audience.Any(string.IsNullOrEmpty))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "audience must be specified (at least one non-empty audience)"));
        }

        SpiffeId? wanted = null;
        if (request.SpiffeId.Length != 0)
        {
            if (!SpiffeId.TryParse(request.SpiffeId, out var parsed, out var error))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"spiffe_id '{DisplayText.Truncate(request.SpiffeId)}' is invalid: {error}"));
            }

            wanted = parsed;
        }

        var entries = state.Match(caller, "FetchJWTSVID");
        var response = new JWTSVIDResponse();
        foreach (var entry in entries)
        {
            if (wanted is { } id && entry.Id != id)
            {
                continue;
            }

            var token = JwtSvidMinter.Mint(state, entry.Id, request.Audience);
            var svid = new JWTSVID { SpiffeId = entry.Id.ToString(), Svid = token };
            if (entry.Hint is not null)
            {
                svid.Hint = entry.Hint;
            }

            response.Svids.Add(svid);
        }

        if (response.Svids.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"the caller is not entitled to '{DisplayText.Truncate(request.SpiffeId)}'"));
        }

        return Task.FromResult(response);
    }

    public override Task<ValidateJWTSVIDResponse> ValidateJWTSVID(ValidateJWTSVIDRequest request, ServerCallContext context)
    {
        var caller = state.Authorize(context, "ValidateJWTSVID");
        _ = state.Match(caller, "ValidateJWTSVID");
        if (request.Audience.Length == 0 || request.Svid.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, request.Audience.Length == 0 ? "audience must be specified" : "svid must be specified"));
        }

        var bundles = JwtSvidMinter.BundleSet(state);
        var result = JwtSvidValidator.Validate(request.Svid, request.Audience, bundles, state.Time.GetUtcNow());
        if (!result.IsValid)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"JWT-SVID is invalid: {result.Error}"));
        }

        return Task.FromResult(new ValidateJWTSVIDResponse
        {
            SpiffeId = result.Id.ToString(),
            Claims = Google.Protobuf.WellKnownTypes.Struct.Parser.ParseJson(result.ClaimsJson),
        });
    }

    private async Task StreamAsync<T>(ServerCallContext context, string rpc, Func<List<WorkloadRegistration>, CancellationToken, Task<T>> build, IServerStreamWriter<T> stream)
    {
        var caller = state.Authorize(context, rpc);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, state.Stopping);
        var cancellationToken = linked.Token;
        try
        {
            while (true)
            {
                // Take the change token before building, so that a change during the build triggers another message.
                var changed = state.ChangeToken;
                var entries = state.Match(caller, rpc);
                var message = await build(entries, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                await WorkloadApiState.WaitForChangeAsync(changed, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (state.Stopping.IsCancellationRequested)
        {
            // The server is shutting down: end the stream so that clients reconnect to the next instance.
        }
        catch (CertificateIssuanceException ex)
        {
            // The issuer is down or refused: the caller retries with backoff (Unavailable), as while an agent is starting.
            throw new RpcException(new Status(StatusCode.Unavailable, $"no SVID could be minted for the caller yet: {ex.Message}"));
        }
    }
}
