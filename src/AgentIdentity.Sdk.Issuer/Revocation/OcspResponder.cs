using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace AgentIdentity;

/// <summary>Options for <see cref="OcspResponder"/>.</summary>
public sealed class OcspResponderOptions
{
    /// <summary>Gets or sets how long a response is valid (<c>nextUpdate</c> − now). Keep it short: a cached "good" hides a revocation until then.</summary>
    /// <value>The default value is 5 minutes.</value>
    public TimeSpan ResponseValidity { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how far <c>thisUpdate</c> is backdated for relying parties whose clocks run behind.</summary>
    /// <value>The default value is 1 minute.</value>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets the most certificates one request may ask about.</summary>
    /// <value>The default value is 16.</value>
    public int MaxRequestsPerMessage { get; set; } = 16;
}

/// <summary>
/// An RFC 6960 OCSP responder over an <see cref="IRevocationRegistry"/>, signed by the issuing CA itself (so relying parties need
/// no delegated responder certificate). Answers <c>good</c>, <c>revoked</c> (with time and reason) or <c>unknown</c> (another issuer,
/// or a serial number the registry never recorded as issued),
/// echoes the request nonce, and returns <c>malformedRequest</c> for bytes that are not an OCSP request.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public sealed class OcspResponder
{
    /// <summary>The media type of OCSP requests.</summary>
    public const string RequestMediaType = "application/ocsp-request";

    /// <summary>The media type of OCSP responses.</summary>
    public const string ResponseMediaType = "application/ocsp-response";

    private const int MaxRequestBytes = 16 * 1024;
    private const int MaxSerialBytes = 64; // RFC 5280 §4.1.2.2: at most 20 octets are issued; RevocationEntry accepts up to 64
    private readonly IRevocationRegistry _registry;
    private readonly Func<RevocationSigner> _signerSource;
    private readonly OcspResponderOptions _options;
    private readonly TimeProvider _time;
    private SignerState? _current;

    /// <summary>Initializes a new instance of the <see cref="OcspResponder"/> class.</summary>
    /// <param name="registry">The registry to answer from.</param>
    /// <param name="signer">The issuing CA's revocation signer (must be the registry's signer).</param>
    /// <param name="options">Options; <see langword="null"/> for defaults.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> for <see cref="TimeProvider.System"/>.</param>
    public OcspResponder(IRevocationRegistry registry, RevocationSigner signer, OcspResponderOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(signer);
        _registry = registry;
        _signerSource = () => signer;
        _options = options ?? new OcspResponderOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_options.ResponseValidity, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxRequestsPerMessage, 1, nameof(options));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>A responder whose signer follows the issuer's active CA (the issuer service's, across CA rotations).</summary>
    internal OcspResponder(IRevocationRegistry registry, Func<RevocationSigner> signerSource, OcspResponderOptions? options, TimeProvider? timeProvider)
    {
        _registry = registry;
        _signerSource = signerSource;
        _options = options ?? new OcspResponderOptions();
        _time = timeProvider ?? TimeProvider.System;
    }

    private SignerState Current()
    {
        var signer = _signerSource();
        var current = Volatile.Read(ref _current);
        if (current is not null && ReferenceEquals(current.Signer, signer))
        {
            return current;
        }

        var issuer = new X509CertificateParser().ReadCertificate(signer.Certificate.RawData);
        current = new SignerState(signer, issuer, issuer.GetPublicKey());
        Volatile.Write(ref _current, current);
        return current;
    }

    private sealed record SignerState(RevocationSigner Signer, BcCertificate Issuer, AsymmetricKeyParameter Key);

    /// <summary>Answers one DER OCSP request.</summary>
    /// <param name="request">The DER <c>OCSPRequest</c> (POST body, or the decoded GET path).</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The DER <c>OCSPResponse</c>: a signed basic response, or an unsigned error status (malformedRequest, internalError).</returns>
    public async ValueTask<byte[]> RespondAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken = default)
    {
        OcspReq parsed;
        Req[] requests;
        try
        {
            if (request.Length is 0 or > MaxRequestBytes)
            {
                return Error(OcspRespStatus.MalformedRequest);
            }

            parsed = new OcspReq(request.ToArray());
            requests = parsed.GetRequestList();
        }
#pragma warning disable CA1031 // BouncyCastle throws many exception types for malformed input; all mean "malformed".
        catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
        {
            return Error(OcspRespStatus.MalformedRequest);
        }

        if (requests.Length == 0 || requests.Length > _options.MaxRequestsPerMessage)
        {
            return Error(OcspRespStatus.MalformedRequest);
        }

        var now = _time.GetUtcNow();
        var thisUpdate = (now - _options.ClockSkew).UtcDateTime;
        var nextUpdate = (now + _options.ResponseValidity).UtcDateTime;
        var (signer, issuerCertificate, issuerKey) = Current();
        var generator = new BasicOcspRespGenerator(issuerKey);
        foreach (var single in requests)
        {
            var certificateId = single.GetCertID();
            CertificateStatus? status;
            byte[] serialBytes;
            if (!certificateId.MatchesIssuer(issuerCertificate) || certificateId.SerialNumber.SignValue <= 0
                || (serialBytes = certificateId.SerialNumber.ToByteArrayUnsigned()).Length > MaxSerialBytes)
            {
                status = new UnknownStatus(); // another issuer's, or a serial this issuer cannot have issued
            }
            else
            {
                var serial = Convert.ToHexString(serialBytes);
                var revoked = await _registry.GetCertificateRevocationAsync(serial, cancellationToken).ConfigureAwait(false);
                status = revoked is not null
                    ? new RevokedStatus(revoked.RevokedAt.UtcDateTime, (int)revoked.Reason)
                    : await _registry.IsIssuedAsync(serial, cancellationToken).ConfigureAwait(false) ? CertificateStatus.Good : new UnknownStatus();
            }

            generator.AddResponse(certificateId, status, thisUpdate, nextUpdate, null);
        }

        if (parsed.RequestExtensions?.GetExtension(OcspObjectIdentifiers.PkixOcspNonce) is { } nonce)
        {
            generator.SetResponseExtensions(new X509Extensions(new Dictionary<DerObjectIdentifier, Org.BouncyCastle.Asn1.X509.X509Extension>
            {
                [OcspObjectIdentifiers.PkixOcspNonce] = nonce,
            }));
        }

        var basic = generator.Generate(new EcdsaSignatureFactory(signer), [issuerCertificate], now.UtcDateTime);
        return new OCSPRespGenerator().Generate(OCSPRespGenerator.Successful, basic).GetEncoded();
    }

    private static byte[] Error(int status) => new OcspResponse(new OcspResponseStatus(status), null).GetEncoded();

    /// <summary>Signs with the CA key inside .NET: the private key is never handed to BouncyCastle.</summary>
    private sealed class EcdsaSignatureFactory(RevocationSigner signer) : ISignatureFactory
    {
        public object AlgorithmDetails { get; } = new AlgorithmIdentifier(new DerObjectIdentifier(Oids.EcdsaSha256));

        public IStreamCalculator<IBlockResult> CreateCalculator() => new Calculator(signer);

        #pragma warning disable CA1001 // See CA2213 below.
        private sealed class Calculator(RevocationSigner signer) : IStreamCalculator<IBlockResult>
#pragma warning restore CA1001
        {
#pragma warning disable CA2213 // BouncyCastle closes the stream itself; a MemoryStream holds no unmanaged resources.
            private readonly MemoryStream _stream = new();
#pragma warning restore CA2213

            public Stream Stream => _stream;

            public IBlockResult GetResult() => new SimpleBlockResult(signer.Sign(_stream.ToArray())); // ToArray works after BouncyCastle closes the stream
        }
    }
}
