using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Spiffe.Proto;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Spiffe;

/// <summary>An SVID the server minted, in wire form. The PKCS#8 key lives only in memory.</summary>
internal sealed class MintedSvid(SpiffeId id, ByteString chain, ByteString key, ByteString bundle, TrustBundle trustBundle, DateTimeOffset notAfter, string serial)
{
    public SpiffeId Id { get; } = id;
    public ByteString Chain { get; } = chain;
    public ByteString Key { get; } = key;
    public ByteString Bundle { get; } = bundle;
    public TrustBundle TrustBundle { get; } = trustBundle;
    public DateTimeOffset NotAfter { get; } = notAfter;
    public string Serial { get; } = serial;
}

/// <summary>The server's shared state: registrations, minted SVIDs, federated bundles, the JWT signing key, and the change
/// signal that makes every open stream send the new complete state.</summary>
internal sealed class WorkloadApiState : IDisposable
{
    private readonly IX509SvidIssuer _issuer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly WorkloadApiServerOptions _options;
    private readonly ConcurrentDictionary<SpiffeId, Task<MintedSvid>> _minted = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _rotation = new(1, 1);
    private volatile WorkloadRegistration[] _registrations;
    private volatile TrustBundle[] _federated;
    private CancellationTokenSource _changed = new();

    public WorkloadApiState(IX509SvidIssuer issuer, WorkloadApiServerOptions options, TimeProvider time, ILogger logger)
    {
        _issuer = issuer;
        _options = options;
        _time = time;
        _logger = logger;
        _registrations = [.. options.Registrations];
        _federated = [.. options.FederatedBundles];
        JwtKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        JwtKeyId = Base64UrlRandom(16);
    }

    public CancellationToken Stopping => _stopping.Token;

    public TimeProvider Time => _time;

    public ECDsa JwtKey { get; }

    public string JwtKeyId { get; }

    public TimeSpan JwtSvidLifetime => _options.JwtSvidLifetime;

    public CancellationToken ChangeToken => Volatile.Read(ref _changed).Token;

    public IReadOnlyList<WorkloadRegistration> Registrations => _registrations;

    public ILogger Logger => _logger;

    public PeerCredentials Authorize(ServerCallContext context, string rpc)
    {
        var header = context.RequestHeaders.GetValue(WorkloadApiHeaders.SecurityHeaderName);
        if (!string.Equals(header, WorkloadApiHeaders.SecurityHeaderValue, StringComparison.Ordinal))
        {
            _logger.MissingSecurityHeader(rpc);
            throw new RpcException(new Status(StatusCode.InvalidArgument, "security header missing from request: every Workload API call must carry metadata 'workload.spiffe.io: true'"));
        }

        var caller = context.GetHttpContext().Features.Get<PeerCredentialsFeature>()?.Credentials;
        if (caller is null)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, "the caller's peer credentials could not be read, so it cannot be attested"));
        }

        return caller;
    }

    public List<WorkloadRegistration> Match(PeerCredentials caller, string rpc)
    {
        // Re-checked on every call and every streamed update: the attested process must still be the one that connected.
        if (caller.Process is { } process && !process.IsUnchanged(out var changed))
        {
            _logger.CallerChanged(caller.ProcessId, caller.UserId, changed, rpc);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"no identity issued: {changed}"));
        }

        var matches = new List<WorkloadRegistration>();
        var seen = new HashSet<SpiffeId>();
        foreach (var registration in _registrations)
        {
            if (registration.Matches(caller) && seen.Add(registration.Id))
            {
                matches.Add(registration);
            }
        }

        if (matches.Count == 0)
        {
            _logger.CallerDenied(caller.ProcessId, caller.UserId, caller.GroupId, caller.ExecutablePath is { } path ? DisplayText.Escape(path) : null, rpc);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"no identity issued: no registration entry matches the caller (uid {caller.UserId}, gid {caller.GroupId})"));
        }

        return matches;
    }

    public async Task<X509SVIDResponse> BuildX509ResponseAsync(List<WorkloadRegistration> entries, CancellationToken cancellationToken)
    {
        var response = new X509SVIDResponse();
        var ownDomains = new HashSet<TrustDomain>();
        foreach (var entry in entries)
        {
            var minted = await GetSvidAsync(entry, cancellationToken).ConfigureAwait(false);
            ownDomains.Add(minted.Id.TrustDomain);
            var svid = new X509SVID { SpiffeId = minted.Id.ToString(), X509Svid = minted.Chain, X509SvidKey = minted.Key, Bundle = minted.Bundle };
            if (entry.Hint is not null)
            {
                svid.Hint = entry.Hint;
            }

            response.Svids.Add(svid);
        }

        foreach (var bundle in _federated)
        {
            if (!ownDomains.Contains(bundle.TrustDomain))
            {
                response.FederatedBundles[bundle.TrustDomain.Id.ToString()] = ConcatenateDer(bundle.X509Authorities);
            }
        }

        return response;
    }

    public async Task<X509BundlesResponse> BuildBundlesResponseAsync(List<WorkloadRegistration> entries, CancellationToken cancellationToken)
    {
        var response = new X509BundlesResponse();
        foreach (var entry in entries)
        {
            var minted = await GetSvidAsync(entry, cancellationToken).ConfigureAwait(false);
            response.Bundles[minted.Id.TrustDomain.Id.ToString()] = minted.Bundle;
        }

        foreach (var bundle in _federated)
        {
            response.Bundles.TryAdd(bundle.TrustDomain.Id.ToString(), ConcatenateDer(bundle.X509Authorities));
        }

        return response;
    }

    public async Task<MintedSvid> GetSvidAsync(WorkloadRegistration entry, CancellationToken cancellationToken)
    {
        var task = _minted.GetOrAdd(entry.Id, _ => MintAsync(entry, CancellationToken.None));
        try
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (task.IsFaulted)
        {
            // Do not cache a failure: the next caller tries the issuer again.
            _minted.TryRemove(new KeyValuePair<SpiffeId, Task<MintedSvid>>(entry.Id, task));
            throw;
        }
    }

    /// <summary>Mints new SVIDs for every identity served so far and pushes the new state to every open stream.</summary>
    public async Task RotateAsync(CancellationToken cancellationToken)
    {
        await _rotation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var id in _minted.Keys.ToArray())
            {
                var entry = _registrations.FirstOrDefault(r => r.Id == id);
                if (entry is null)
                {
                    _minted.TryRemove(id, out _);
                    continue;
                }

                try
                {
                    var fresh = await MintAsync(entry, cancellationToken).ConfigureAwait(false);
                    _minted[id] = Task.FromResult(fresh);
                }
                catch (CertificateIssuanceException ex)
                {
                    _logger.RotationFailed(id, ex);
                }
            }
        }
        finally
        {
            _rotation.Release();
        }

        SignalChange();
    }

    public void SetRegistrations(IEnumerable<WorkloadRegistration> registrations)
    {
        _registrations = [.. registrations];
        SignalChange();
    }

    public void SetFederatedBundles(IEnumerable<TrustBundle> bundles)
    {
        _federated = [.. bundles];
        SignalChange();
    }

    public static async Task WaitForChangeAsync(CancellationToken changed, CancellationToken cancellationToken)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (changed.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), tcs))
        {
            await tcs.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Stop() => _stopping.Cancel();

    private async Task<MintedSvid> MintAsync(WorkloadRegistration entry, CancellationToken cancellationToken)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(string.Empty), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(CertificateExtensions.BuildUriSan(entry.Id, critical: true));
        var csr = request.CreateSigningRequest();
        var issuance = await _issuer.IssueAsync(new X509SvidRequest(entry.Id, csr, _options.SvidLifetime) { DnsNames = entry.DnsNames }, cancellationToken).ConfigureAwait(false);
        using var leaf = issuance.Certificate;
        if (!leaf.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            throw new CertificateIssuanceException($"The issuer returned a certificate for '{entry.Id}' with a different key than the one requested; it was discarded.");
        }

        var pkcs8 = key.ExportPkcs8PrivateKey();
        try
        {
            var chain = new List<X509Certificate2> { leaf };
            chain.AddRange(issuance.Intermediates);
            var minted = new MintedSvid(
                entry.Id,
                ConcatenateDer(chain),
                ByteString.CopyFrom(pkcs8),
                ConcatenateDer(issuance.Bundle.X509Authorities),
                issuance.Bundle,
                new DateTimeOffset(leaf.NotAfter.ToUniversalTime()),
                leaf.SerialNumber);
            _logger.SvidMinted(entry.Id, minted.Serial, minted.NotAfter);
            return minted;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private void SignalChange()
    {
        var old = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        old.Cancel();
        // Not disposed: late subscribers may still register on the (already cancelled) token.
    }

    internal static ByteString ConcatenateDer(IEnumerable<X509Certificate2> certificates)
    {
        using var buffer = new MemoryStream();
        foreach (var certificate in certificates)
        {
            buffer.Write(certificate.RawData);
        }

        return ByteString.CopyFrom(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static string Base64UrlRandom(int bytes) => System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(bytes));

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
        _rotation.Dispose();
        JwtKey.Dispose();
    }
}

/// <summary>The peer credentials of a connection, set by the connection middleware and read by the service.</summary>
internal sealed class PeerCredentialsFeature(PeerCredentials? credentials)
{
    public PeerCredentials? Credentials { get; } = credentials;
}
