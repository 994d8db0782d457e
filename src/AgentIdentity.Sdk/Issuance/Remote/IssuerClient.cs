using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace AgentIdentity;

/// <summary>
/// An <see cref="IX509SvidIssuer"/> that talks to the AgentIdentity issuer service over HTTPS: the first SVID of an identity is
/// obtained with a one-time join token, later ones are renewed over mTLS with the current SVID, and task identities are
/// delegated over mTLS with the parent's SVID. After an SVID expired (TLS renewal impossible) it first renews by proof of
/// possession of the expired key (<c>v1/renew-expired</c>, which the issuer allows within its configured grace after expiry);
/// when the issuer refuses that, it enrolls again with a token from <see cref="IssuerClientOptions.JoinTokenCallback"/>.
/// </summary>
/// <remarks>Thread-safe. Only CSRs, never private keys, leave the process. Register it with <c>builder.UseIssuer(uri, joinToken)</c>.</remarks>
public sealed class IssuerClient : IX509SvidIssuer, IDisposable
{
    /// <summary>The largest issuer response read (an issuance with its chain and bundle is a few KiB); a larger one is refused.</summary>
    internal const int MaxResponseBytes = 1024 * 1024;

    private readonly IssuerClientOptions _options;
    private readonly TimeProvider _time;
    private readonly HttpClient _anonymous;
    private string? _joinToken;
    private TrustBundle? _latestBundle;
    private ParsedBundle? _lastIssuedBundle;
    private ParsedIntermediates? _lastIntermediates;
    private int _disposed;

    /// <summary>Initializes a new instance of the <see cref="IssuerClient"/> class.</summary>
    /// <param name="options">The options.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message says which.</exception>
    public IssuerClient(IssuerClientOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _joinToken = options.JoinToken;
        _anonymous = CreateClient(null);
    }

    /// <summary>Gets the issuer's base address.</summary>
    public Uri Address => _options.Address!;

    /// <summary>Gets the issuer's expected SPIFFE ID, when configured (the revocation subscription expects the same server).</summary>
    internal SpiffeId? ServerId => _options.ServerId;

    /// <inheritdoc/>
    public async ValueTask<X509SvidIssuance> IssueAsync(X509SvidRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var now = _time.GetUtcNow();
        if (request.Delegation is { } proof)
        {
            if (request.AuthenticatingSvid is not { } parent || parent.IsExpired(now))
            {
                throw new CertificateIssuanceException($"Cannot delegate '{request.Id}': the parent has no valid SVID to authenticate to the issuer with.");
            }

            var body = JsonSerializer.SerializeToUtf8Bytes(
                new IssuerDelegateRequest
                {
                    SpiffeId = request.Id.ToString(),
                    Csr = request.CertificateSigningRequest.ToArray(),
                    LifetimeSeconds = LifetimeSeconds(request),
                    Policy = (request.Policy ?? AgentPolicy.Empty).ToDer(),
                    ProofSignature = proof.GetSignature(),
                },
                IssuerJsonContext.Default.IssuerDelegateRequest);
            return await SendWithCertificateAsync(IssuerProtocol.DelegatePath, body, parent, request.Id, cancellationToken).ConfigureAwait(false);
        }

        if (request.AuthenticatingSvid is { } current && current.Id == request.Id && !current.IsExpired(now))
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(
                new IssuerRenewRequest { SpiffeId = request.Id.ToString(), Csr = request.CertificateSigningRequest.ToArray(), LifetimeSeconds = LifetimeSeconds(request) },
                IssuerJsonContext.Default.IssuerRenewRequest);
            try
            {
                return await SendWithCertificateAsync(IssuerProtocol.RenewPath, body, current, request.Id, cancellationToken).ConfigureAwait(false);
            }
            catch (CertificateIssuanceException ex) when (StatusCode(ex) == 401)
            {
                // The issuer rejected the certificate over mTLS (by its clock it may have expired): prove possession of its key instead.
                try
                {
                    return await RenewExpiredAsync(request, current, cancellationToken).ConfigureAwait(false);
                }
                catch (CertificateIssuanceException recovery) when (StatusCode(recovery) is not null)
                {
                    throw new CertificateIssuanceException($"{ex.Message} Renewal by proof of possession of its key was refused too: {recovery.Message}", ex) { Data = { ["StatusCode"] = StatusCode(ex) } };
                }
            }
        }

        CertificateIssuanceException? recoveryRefused = null;
        if (request.ExpiredSvid is { } expired && expired.Id == request.Id)
        {
            // The SVID expired (the host slept, the issuer was down): an issuer that allows renewal after expiry accepts a proof of
            // possession of its key. If it refuses, enroll again with a join token below.
            try
            {
                return await RenewExpiredAsync(request, expired, cancellationToken).ConfigureAwait(false);
            }
            catch (CertificateIssuanceException ex) when (StatusCode(ex) is not null)
            {
                recoveryRefused = ex;
            }
        }

        var token = Interlocked.Exchange(ref _joinToken, null);
        if (token is null && _options.JoinTokenCallback is { } callback)
        {
            token = await callback(request.Id, cancellationToken).ConfigureAwait(false);
        }

        if (string.IsNullOrEmpty(token))
        {
            throw new CertificateIssuanceException(
                $"Cannot enroll '{request.Id}' with the issuer at {Address}: no join token is left (each is single-use) and no JoinTokenCallback supplied one. " +
                "Create a join token for this agent and configure IssuerClientOptions.JoinTokenCallback." +
                (recoveryRefused is null ? string.Empty : $" Renewal of the expired SVID was refused: {recoveryRefused.Message}"),
                recoveryRefused);
        }

        var enrollBody = JsonSerializer.SerializeToUtf8Bytes(
            new IssuerEnrollRequest { SpiffeId = request.Id.ToString(), Csr = request.CertificateSigningRequest.ToArray(), LifetimeSeconds = LifetimeSeconds(request), JoinToken = token },
            IssuerJsonContext.Default.IssuerEnrollRequest);
        return await SendAsync(_anonymous, IssuerProtocol.IssuePath, enrollBody, request.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fetches the issuer's SPIFFE bundle (the federation bundle endpoint), validating the server as configured.</summary>
    /// <param name="trustDomain">The trust domain of the bundle.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The bundle.</returns>
    /// <exception cref="HttpRequestException">The issuer could not be reached or answered with an error.</exception>
    public async Task<TrustBundle> GetBundleAsync(TrustDomain trustDomain, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var json = await _anonymous.GetByteArrayAsync(new Uri(Address, IssuerProtocol.BundlePath), cancellationToken).ConfigureAwait(false);
        var bundle = TrustBundle.Parse(trustDomain, json);
        Volatile.Write(ref _latestBundle, bundle);
        return bundle;
    }

    /// <summary>Releases the HTTP connections.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _anonymous.Dispose();
        }
    }

    /// <summary>Renews with <paramref name="svid"/>'s certificate and a proof of possession of its key, not over mTLS (<c>v1/renew-expired</c>).</summary>
    private async Task<X509SvidIssuance> RenewExpiredAsync(X509SvidRequest request, X509Svid svid, CancellationToken cancellationToken)
    {
        var csr = request.CertificateSigningRequest.ToArray();
        var proofTime = _time.GetUtcNow().ToUnixTimeSeconds();
        var content = ExpiredRenewalProof.BuildContent(request.Id.TrustDomain, request.Id, svid.SerialNumber, proofTime, csr);
        var signature = CertificateKeySignature.Sign(svid.Certificate, content)
            ?? throw new CertificateIssuanceException($"Cannot renew '{request.Id}' after expiry: the key of its SVID is neither ECDSA nor RSA.");
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new IssuerRenewExpiredRequest
            {
                SpiffeId = request.Id.ToString(),
                Csr = csr,
                LifetimeSeconds = LifetimeSeconds(request),
                Certificates = [svid.Certificate.RawData, .. svid.Intermediates.Select(i => i.RawData)],
                ProofTime = proofTime,
                ProofSignature = signature,
            },
            IssuerJsonContext.Default.IssuerRenewExpiredRequest);
        return await SendAsync(_anonymous, IssuerProtocol.RenewExpiredPath, body, request.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records on the credential's issuance span how this attempt reaches the issuer (the last one tried wins).</summary>
    private static void TagIssuanceMethod(string path)
    {
        if (System.Diagnostics.Activity.Current is { IsAllDataRequested: true } current && ReferenceEquals(current.Source, AgentIdentityTelemetry.Source) &&
            current.OperationName is AgentIdentityTelemetry.IssueSpan or AgentIdentityTelemetry.RenewSpan)
        {
            current.SetTag(TelemetryTags.IssuanceMethod, path switch
            {
                IssuerProtocol.IssuePath => "join_token",
                IssuerProtocol.RenewPath => "renew",
                IssuerProtocol.RenewExpiredPath => "renew_expired",
                IssuerProtocol.DelegatePath => "delegate",
                _ => path,
            });
        }
    }

    /// <summary>The HTTP status of the issuer's refusal, or <see langword="null"/> when the issuer did not answer.</summary>
    private static int? StatusCode(CertificateIssuanceException exception) => exception.Data["StatusCode"] as int?;

    /// <summary>The requested lifetime in whole seconds (rounded up), capped at the wire's 32-bit range; the issuer shortens it to its maximum.</summary>
    private static int LifetimeSeconds(X509SvidRequest request) => (int)Math.Min(int.MaxValue, Math.Ceiling(request.Lifetime.TotalSeconds));

    private async Task<X509SvidIssuance> SendWithCertificateAsync(string path, byte[] body, X509Svid svid, SpiffeId id, CancellationToken cancellationToken)
    {
        // Renewals and delegations are rare (once per half-life): a connection per call keeps each one bound to exactly the SVID it presents.
        using var client = CreateClient(svid);
        return await SendAsync(client, path, body, id, cancellationToken).ConfigureAwait(false);
    }

    private async Task<X509SvidIssuance> SendAsync(HttpClient client, string path, byte[] body, SpiffeId id, CancellationToken cancellationToken)
    {
        TagIssuanceMethod(path);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(IssuerProtocol.JsonMediaType);
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync(new Uri(Address, path), content, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            var reason = FindInner<PeerRejectedException>(ex)?.Message ?? ex.Message;
            throw new CertificateIssuanceException($"The issuer at {Address} is unreachable or untrusted for '{id}': {reason}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CertificateIssuanceException($"The issuer at {Address} did not answer within {_options.Timeout} for '{id}'.", ex);
        }

        using (response)
        {
            var payload = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new CertificateIssuanceException($"The issuer at {Address} refused '{id}' ({(int)response.StatusCode} {response.StatusCode}): {ProblemDetail(payload)}")
                {
                    Data = { ["StatusCode"] = (int)response.StatusCode },
                };
            }

            return ReadIssuance(payload, id);
        }
    }

    private X509SvidIssuance ReadIssuance(byte[] payload, SpiffeId id)
    {
        X509Certificate2? leaf = null;
        try
        {
            var response = JsonSerializer.Deserialize(payload, IssuerJsonContext.Default.IssuerIssuanceResponse);
            IReadOnlyList<byte[]> ders = response?.Certificates ?? [];
            if (ders.Count == 0)
            {
                throw new CertificateIssuanceException($"The issuer at {Address} returned no certificate for '{id}'.");
            }

            foreach (var der in ders)
            {
                if (der is null)
                {
                    throw new FormatException($"'{IssuerProtocol.Certificates}' contains null.");
                }
            }

            leaf = X509CertificateLoader.LoadCertificate(ders[0]);
            var intermediates = Intermediates(ders);

            var bundleJson = response!.Bundle ?? throw new FormatException($"'{IssuerProtocol.Bundle}' is missing.");
            // The issuer sends its bundle with every SVID and it rarely changes: the same document parses to the same (immutable) bundle.
            TrustBundle bundle;
            if (Volatile.Read(ref _lastIssuedBundle) is { } last && last.Bundle.TrustDomain == id.TrustDomain && string.Equals(last.Json, bundleJson, StringComparison.Ordinal))
            {
                bundle = last.Bundle;
            }
            else
            {
                bundle = TrustBundle.Parse(id.TrustDomain, bundleJson);
                Volatile.Write(ref _lastIssuedBundle, new ParsedBundle(bundleJson, bundle));
            }

            Volatile.Write(ref _latestBundle, bundle);
            return new X509SvidIssuance(leaf, intermediates, bundle);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            leaf?.Dispose();
            throw new CertificateIssuanceException($"The issuer at {Address} returned a malformed response for '{id}': {ex.Message}", ex);
        }
    }

    /// <summary>The intermediates of a response (every certificate after the leaf). The issuer sends the same ones with every SVID
    /// until its CA rotates: while their DER is unchanged, the instances parsed last time are returned (shared, never disposed, as
    /// the development CA shares its own), so that each issuance decodes only its leaf.</summary>
    private X509Certificate2[] Intermediates(IReadOnlyList<byte[]> ders)
    {
        if (Volatile.Read(ref _lastIntermediates) is { } last && last.Matches(ders))
        {
            return last.Certificates;
        }

        var certificates = new X509Certificate2[ders.Count - 1];
        try
        {
            for (var i = 1; i < ders.Count; i++)
            {
                certificates[i - 1] = X509CertificateLoader.LoadCertificate(ders[i]);
            }
        }
        catch
        {
            foreach (var certificate in certificates)
            {
                certificate?.Dispose();
            }

            throw;
        }

        Volatile.Write(ref _lastIntermediates, new ParsedIntermediates([.. ders.Skip(1)], certificates));
        return certificates;
    }

    private static string ProblemDetail(byte[] payload)
    {
        try
        {
            var problem = JsonSerializer.Deserialize(payload, IssuerJsonContext.Default.IssuerProblem);
            return problem?.Detail ?? problem?.Title ?? "no details";
        }
        catch (JsonException)
        {
            // Not problem details: report the status only.
            return "no details";
        }
    }

    private static T? FindInner<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T match)
            {
                return match;
            }
        }

        return null;
    }

    private HttpClient CreateClient(X509Svid? clientSvid)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), UseCookies = false, AllowAutoRedirect = false };
        _options.ConfigureHandler?.Invoke(handler);
        var ssl = new SslClientAuthenticationOptions();
        if (_options.ServerId is not null)
        {
            ssl.RemoteCertificateValidationCallback = ValidateServerSvid;
        }

        if (clientSvid is not null)
        {
            ssl.ClientCertificateContext = SslStreamCertificateContext.Create(clientSvid.Certificate, new X509Certificate2Collection(clientSvid.Intermediates.ToArray()), offline: true);
            ssl.AllowTlsResume = false;
        }

        handler.SslOptions = ssl;
        return new HttpClient(handler, disposeHandler: true) { Timeout = _options.Timeout, DefaultRequestVersion = HttpVersion.Version11, MaxResponseContentBufferSize = MaxResponseBytes };
    }

    private bool ValidateServerSvid(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var expected = _options.ServerId!.Value;
        if (certificate is null)
        {
            throw new PeerRejectedException(expected, "the issuer presented no certificate");
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var now = _time.GetUtcNow();
        var result = X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, _options.ServerTrustBundle!, now);
        if (!result.IsValid && Volatile.Read(ref _latestBundle) is { } latest && latest.TrustDomain == expected.TrustDomain)
        {
            result = X509SvidValidator.Validate(leaf, chain?.ChainPolicy.ExtraStore, latest, now);
        }

        if (!result.IsValid)
        {
            throw new PeerRejectedException(result.Id, $"the issuer's certificate is not a trusted SVID: {result.Reason}");
        }

        return result.Id == expected
            ? true
            : throw new PeerRejectedException(result.Id, $"the issuer must be '{expected}'");
    }

    /// <summary>A bundle document as received and the bundle it parsed to.</summary>
    private sealed record ParsedBundle(string Json, TrustBundle Bundle);

    /// <summary>The intermediates parsed from a response, with the DER they were parsed from.</summary>
    private sealed record ParsedIntermediates(byte[][] Ders, X509Certificate2[] Certificates)
    {
        public bool Matches(IReadOnlyList<byte[]> response)
        {
            if (response.Count - 1 != Ders.Length)
            {
                return false;
            }

            for (var i = 0; i < Ders.Length; i++)
            {
                if (!Ders[i].AsSpan().SequenceEqual(response[i + 1]))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
