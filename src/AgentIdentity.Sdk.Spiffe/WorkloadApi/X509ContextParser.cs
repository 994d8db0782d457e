using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AgentIdentity.Spiffe.Proto;

namespace AgentIdentity.Spiffe;

/// <summary>The parsed, complete state of one <c>FetchX509SVID</c> message.</summary>
internal sealed class X509Context(X509SvidOwner owner, string? hint, TrustBundleSet bundles, IReadOnlyList<byte[]> crls)
{
    /// <summary>Gets the owner of the snapshot: the source alone marks it superseded or releases it.</summary>
    public X509SvidOwner Owner { get; } = owner;

    public X509Svid Svid => Owner.Svid;

    public string? Hint { get; } = hint;

    public TrustBundleSet Bundles { get; } = bundles;

    public IReadOnlyList<byte[]> Crls { get; } = crls;
}

/// <summary>Checks and parses Workload API X.509 messages. Any defect rejects the whole message (SPECS.md §5.3).</summary>
internal static class X509ContextParser
{
    public static X509Context Parse(X509SVIDResponse response, string? hint)
    {
        if (response.Svids.Count == 0)
        {
            throw Malformed("the response has no SVIDs (svids is required and must hold at least one)");
        }

        for (var i = 0; i < response.Svids.Count; i++)
        {
            var s = response.Svids[i];
            var missing = s.SpiffeId.Length == 0 ? "spiffe_id"
                : s.X509Svid.IsEmpty ? "x509_svid"
                : s.X509SvidKey.IsEmpty ? "x509_svid_key"
                : s.Bundle.IsEmpty ? "bundle"
                : null;
            if (missing is not null)
            {
                throw Malformed($"svids[{i}] has an empty required field '{missing}'");
            }
        }

        var chosen = Select(response, hint);
        var owner = ParseSvid(chosen);
        var svid = owner.Svid;
        try
        {
            var bundles = new List<TrustBundle> { ParseBundle(svid.Id.TrustDomain, chosen.Bundle.Span, "bundle") };
            foreach (var (key, value) in response.FederatedBundles)
            {
                if (!TrustDomain.TryParse(key, out var td, out var error))
                {
                    throw Malformed($"federated_bundles has a key '{key}' that is not a trust domain: {error}");
                }

                if (td == svid.Id.TrustDomain)
                {
                    throw Malformed($"federated_bundles repeats the SVID's own trust domain '{td}'; bundles of one trust domain are never merged");
                }

                if (value.IsEmpty)
                {
                    throw Malformed($"federated_bundles['{key}'] is empty");
                }

                bundles.Add(ParseBundle(td, value.Span, $"federated_bundles['{key}']"));
            }

            var crls = response.Crl.Select(c => c.ToByteArray()).ToArray();
            return new X509Context(owner, chosen.Hint.Length == 0 ? null : chosen.Hint, new TrustBundleSet(bundles), crls);
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    private static X509SVID Select(X509SVIDResponse response, string? hint)
    {
        if (hint is null)
        {
            return response.Svids[0];
        }

        // Hints are unique per response; if a server repeats one, the first SVID with it wins (go-spiffe skips later duplicates).
        foreach (var s in response.Svids)
        {
            if (string.Equals(s.Hint, hint, StringComparison.Ordinal))
            {
                return s;
            }
        }

        throw Malformed($"no SVID has the configured hint '{hint}' (hints present: {string.Join(", ", response.Svids.Select(s => s.Hint.Length == 0 ? "<none>" : $"'{s.Hint}'"))})");
    }

    private static X509SvidOwner ParseSvid(X509SVID s)
    {
        if (!SpiffeId.TryParse(s.SpiffeId, out var id, out var idError))
        {
            throw Malformed($"spiffe_id '{DisplayText.Truncate(s.SpiffeId)}' is not a SPIFFE ID: {idError}");
        }

        var certificates = SplitDer(s.X509Svid.Span, $"x509_svid of '{id}'");
        X509Certificate2? leafWithKey = null;
        try
        {
            var leaf = certificates[0];
            leafWithKey = AttachKey(leaf, s.X509SvidKey.Span, id);
            var owner = new X509SvidOwner(leafWithKey, certificates.Skip(1));
            var svid = owner.Svid;
            if (svid.Id != id)
            {
                throw Malformed($"spiffe_id '{id}' does not match the ID '{svid.Id}' in the certificate");
            }

            leaf.Dispose();
            return owner;
        }
        catch (ArgumentException ex)
        {
            leafWithKey?.Dispose();
            DisposeAll(certificates);
            throw Malformed($"x509_svid of '{id}' is not a valid X.509-SVID: {ex.Message}", ex);
        }
        catch
        {
            leafWithKey?.Dispose();
            DisposeAll(certificates);
            throw;
        }
    }

    private static X509Certificate2 AttachKey(X509Certificate2 leaf, ReadOnlySpan<byte> pkcs8, SpiffeId id)
    {
        try
        {
            if (leaf.GetECDsaPublicKey() is { } ecPublic)
            {
                ecPublic.Dispose();
                using var ec = ECDsa.Create();
                ec.ImportPkcs8PrivateKey(pkcs8, out var read);
                RequireConsumed(read, pkcs8.Length, id);
                return leaf.CopyWithPrivateKey(ec);
            }

            if (leaf.GetRSAPublicKey() is { } rsaPublic)
            {
                rsaPublic.Dispose();
                using var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(pkcs8, out var read);
                RequireConsumed(read, pkcs8.Length, id);
                return leaf.CopyWithPrivateKey(rsa);
            }
        }
        catch (CryptographicException ex)
        {
            throw Malformed($"x509_svid_key of '{id}' is not an unencrypted PKCS#8 key of the leaf's type ({ex.Message})", ex);
        }
        catch (ArgumentException ex)
        {
            throw Malformed($"x509_svid_key of '{id}' does not match the leaf certificate's public key ({ex.Message})", ex);
        }

        throw Malformed($"the leaf of '{id}' has a key type other than ECDSA or RSA");
    }

    private static void RequireConsumed(int read, int length, SpiffeId id)
    {
        if (read != length)
        {
            throw Malformed($"x509_svid_key of '{id}' has {length - read} trailing bytes after the PKCS#8 structure");
        }
    }

    private static TrustBundle ParseBundle(TrustDomain td, ReadOnlySpan<byte> der, string field)
    {
        var authorities = SplitDer(der, field);
        try
        {
            return new TrustBundle(td, authorities);
        }
        catch (ArgumentException ex)
        {
            DisposeAll(authorities);
            throw Malformed($"{field} for '{td}' is not a valid X.509 bundle: {ex.Message}", ex);
        }
    }

    /// <summary>Splits concatenated DER certificates by walking the ASN.1 headers; the bytes have no other delimiter.</summary>
    internal static List<X509Certificate2> SplitDer(ReadOnlySpan<byte> der, string field)
    {
        var certificates = new List<X509Certificate2>();
        var index = 0;
        try
        {
            while (!der.IsEmpty)
            {
                var tag = AsnDecoder.ReadEncodedValue(der, AsnEncodingRules.DER, out _, out _, out var consumed);
                if (tag != Asn1Tag.Sequence)
                {
                    throw Malformed($"{field}: certificate {index} does not start with an ASN.1 SEQUENCE");
                }

                certificates.Add(X509CertificateLoader.LoadCertificate(der[..consumed]));
                der = der[consumed..];
                index++;
            }
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            DisposeAll(certificates);
            throw Malformed($"{field}: certificate {index} is not valid DER ({ex.Message})", ex);
        }
        catch
        {
            DisposeAll(certificates);
            throw;
        }

        if (certificates.Count == 0)
        {
            throw Malformed($"{field} holds no certificates");
        }

        return certificates;
    }

    private static void DisposeAll(List<X509Certificate2> certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }

    private static WorkloadApiResponseException Malformed(string reason, Exception? inner = null) => new(reason, inner);
}
