using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary><c>POST v1/renew-expired</c>: renewal after expiry by proof of possession (<see cref="AgentIdentityIssuerOptions.RenewalAfterExpiryGrace"/>),
/// and the issuance and lineage bookkeeping it shares with <c>v1/renew</c>.</summary>
internal sealed partial class IssuerEndpoints
{
    /// <summary>The most certificates (leaf and intermediates) a renewal after expiry may carry.</summary>
    private const int MaxExpiredChainLength = 4;

    public Task RenewExpiredAsync(HttpContext context) => HandleAsync(context, "renew-expired", async (body, caller) =>
    {
        var grace = _issuer.Options.RenewalAfterExpiryGrace;
        if (grace <= TimeSpan.Zero)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Renewal after expiry disabled",
                "This issuer does not renew expired SVIDs (AgentIdentityIssuerOptions.RenewalAfterExpiryGrace is off); enroll again with a join token bound to this instance.");
        }

        var request = Bind(body, IssuerJsonContext.Default.IssuerRenewExpiredRequest);
        var (id, csr, lifetime) = ReadCommon(request);
        if (request.Certificates is not { Count: > 0 and <= MaxExpiredChainLength } chain || chain[0] is not { Length: > 0 } leafDer || leafDer.Length > 16 * 1024)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, $"Missing {IssuerProtocol.Certificates}",
                $"'{IssuerProtocol.Certificates}' is required: the expired SVID's DER certificates (base64), leaf first, at most {MaxExpiredChainLength}, each at most 16 KiB.");
        }

        if (request.ProofTime is not { } proofTime)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, $"Missing {IssuerProtocol.ProofTime}", $"'{IssuerProtocol.ProofTime}' is required: when the proof was signed, in Unix seconds.");
        }

        var signature = RequireBytes(request.ProofSignature, IssuerProtocol.ProofSignature, 1024);
        X509Certificate2 expired;
        try
        {
            expired = X509CertificateLoader.LoadCertificate(leafDer);
        }
        catch (CryptographicException ex)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {IssuerProtocol.Certificates}", $"'{IssuerProtocol.Certificates}[0]' is not a DER certificate: {ex.Message}");
        }

        using (expired)
        {
            var now = _issuer.Time.GetUtcNow();
            var notAfter = new DateTimeOffset(expired.NotAfter.ToUniversalTime());
            var serial = expired.SerialNumber;

            // Issued by this issuer's CA: the chain is validated as of the last second of the certificate's validity, so that only its expiry is forgiven.
            var state = _issuer.State;
            var validatedAt = notAfter <= now ? notAfter.AddSeconds(-1) : now;
            var validation = X509SvidValidator.Validate(expired, state.Intermediates, state.Bundle, validatedAt);
            if (!validation.IsValid)
            {
                throw new Refusal(StatusCodes.Status401Unauthorized, "Certificate not issued by this issuer",
                    $"The expired certificate (serial {serial}) is not an SVID of this issuer's CA: {validation.Reason} Only this issuer's own SVIDs renew after expiry; enroll with a join token.");
            }

            if (validation.Id != id)
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Identity mismatch", $"The expired certificate is '{validation.Id}'; it can renew only itself, not '{id}'.");
            }

            var overdue = now - notAfter;
            if (overdue > grace)
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Expired beyond the renewal grace",
                    $"The SVID of '{id}' (serial {serial}) expired at {notAfter:O}, {overdue} ago, beyond this issuer's renewal grace of {grace} (AgentIdentityIssuerOptions.RenewalAfterExpiryGrace); enroll again with a join token bound to this instance.");
            }

            if (proofTime < DateTimeOffset.MinValue.ToUnixTimeSeconds() || proofTime > DateTimeOffset.MaxValue.ToUnixTimeSeconds()
                || (DateTimeOffset.FromUnixTimeSeconds(proofTime) - now).Duration() > ExpiredRenewalProof.MaxAge)
            {
                throw new Refusal(StatusCodes.Status401Unauthorized, "Stale proof",
                    $"The proof of possession was signed at Unix time {proofTime}; this issuer accepts proofs signed within {ExpiredRenewalProof.MaxAge} of its clock ({now:O}). Sign a fresh proof for each request, and check the agent's clock.");
            }

            if (!CertificateKeySignature.Verify(expired, ExpiredRenewalProof.BuildContent(_issuer.TrustDomain, id, serial, proofTime, csr), signature))
            {
                throw new Refusal(StatusCodes.Status401Unauthorized, "Invalid proof of possession",
                    $"The proof is not a signature by the key of the expired certificate (serial {serial}) over this request (trust domain, SPIFFE ID, serial number, proof time and CSR); a proof by another key, or for another CSR, is refused.");
            }

            // The store's record: a certificate this issuer recorded for this identity, byte for byte.
            var record = await _issuer.Store.FindCertificateAsync(serial, context.RequestAborted).ConfigureAwait(false);
            if (record is null || record.SpiffeId != id.ToString() || !record.Certificate.AsSpan().SequenceEqual(expired.RawData))
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Certificate not recorded",
                    $"This issuer has no record of issuing the certificate (serial {serial}) to '{id}'; only a certificate it recorded renews after expiry. Enroll with a join token.");
            }

            var identity = await _issuer.Store.FindIdentityAsync(id.ToString(), context.RequestAborted).ConfigureAwait(false)
                ?? throw new Refusal(StatusCodes.Status403Forbidden, "Identity not enrolled", $"'{id}' is not enrolled with this issuer; enroll with a join token.");
            await RefuseRevokedAsync(expired, id, "renew", context.RequestAborted).ConfigureAwait(false);
            if (identity.Revoked)
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Identity revoked", $"'{id}' is revoked in the issuer's store; a revoked identity is never renewed. Enroll a new instance with a join token.");
            }

            if (identity.ParentId is not null)
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Task identities are renewed by delegation", $"'{id}' is a task identity of '{identity.ParentId}'; its parent delegates it again through v1/delegate.");
            }

            var (issuance, certificate) = await IssueRenewalAsync(id, csr, lifetime, identity, serial, "expired certificate", context).ConfigureAwait(false);
            _issuer.Logger.RenewedAfterExpiry(id.ToString(), serial, overdue < TimeSpan.Zero ? TimeSpan.Zero : overdue, grace);
            return Done(issuance, certificate, caller);
        }
    });

    /// <summary>Signs the renewal of <paramref name="id"/> with its recorded policy and records it; on the built-in stores the presented
    /// certificate must be the identity's current one (<see cref="AgentIdentityIssuerOptions.SupersededRenewal"/>).</summary>
    private async Task<(EncodedLeaf Issuance, IssuedCertificateRecord Certificate)> IssueRenewalAsync(
        SpiffeId id, byte[] csr, TimeSpan lifetime, IdentityRecord identity, string presentedSerial, string presented, HttpContext context)
    {
        var cancellationToken = context.RequestAborted;
        var now = _issuer.Time.GetUtcNow();
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = identity.Policy is null ? null : AgentPolicy.FromDer(identity.Policy) });
        var certificate = Record(issuance, id, "renew", now);
        if (_issuer.Store is SqlIssuerStore sql)
        {
            var refuse = _issuer.Options.SupersededRenewal == SupersededRenewalPolicy.Refuse;
            if (await sql.RecordRenewalAsync(certificate, presentedSerial, refuse, cancellationToken).ConfigureAwait(false) is { } currentSerial)
            {
                var action = refuse ? "refused" : "allowed (SupersededRenewalPolicy.AllowAndAlert)";
                _issuer.Logger.SupersededRenewal(certificate.SpiffeId, presentedSerial, currentSerial, action);
                IssuerAudit.FlagSuperseded(context, presentedSerial, currentSerial);
                if (refuse)
                {
                    throw new Refusal(StatusCodes.Status403Forbidden, "Superseded certificate",
                        $"The {presented} (serial {presentedSerial}) of '{id}' was superseded by a renewal (current serial {currentSerial}); only the current certificate renews. " +
                        "Two holders of this identity's key are renewing: this is treated as a likely key theft. Revoke the identity and enroll a new instance.");
                }
            }
        }
        else
        {
            await _issuer.Store.RecordIssuanceAsync(null, certificate, cancellationToken).ConfigureAwait(false);
        }

        _admin.Audit.Issued(context, certificate);
        return (issuance, certificate);
    }
}
