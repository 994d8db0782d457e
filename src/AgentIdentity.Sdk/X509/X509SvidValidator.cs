using System.Security.Cryptography.X509Certificates;

namespace AgentIdentity;

/// <summary>Options for <see cref="X509SvidValidator"/>.</summary>
public sealed class X509SvidValidationOptions
{
    /// <summary>Gets the default options: no clock skew allowance.</summary>
    public static X509SvidValidationOptions Default { get; } = new();

    /// <summary>Gets or sets how far a certificate's validity window is stretched on both ends to absorb clock differences.</summary>
    /// <value>The default value is zero; issuers already backdate <c>NotBefore</c> by 30 seconds.</value>
    public TimeSpan ClockSkew { get; init; }
}

/// <summary>
/// Validates a presented certificate chain as an X.509-SVID against a trust bundle, enforcing the SPIFFE rules itself
/// (SPECS.md §2.2): one URI SAN, leaf key usage, extended key usage and basic constraints, per-trust-domain roots (bundles are
/// never merged), intermediates that are CAs, and every CA's URI name constraints.
/// </summary>
/// <remarks>Thread-safe and stateless.</remarks>
public static class X509SvidValidator
{
    /// <summary>Validates <paramref name="leaf"/> and its <paramref name="intermediates"/> against <paramref name="bundles"/> at <paramref name="now"/>.</summary>
    /// <param name="leaf">The presented leaf certificate.</param>
    /// <param name="intermediates">The presented intermediates, leaf excluded; may be empty.</param>
    /// <param name="bundles">The trust bundles, one per trust domain.</param>
    /// <param name="now">The time to validate at, from a <see cref="TimeProvider"/>.</param>
    /// <param name="options">Validation options; <see langword="null"/> for <see cref="X509SvidValidationOptions.Default"/>.</param>
    /// <returns>A result that carries the SPIFFE ID and verified chain, or the rule broken.</returns>
    public static X509SvidValidationResult Validate(
        X509Certificate2 leaf,
        IEnumerable<X509Certificate2>? intermediates,
        ITrustBundleSource bundles,
        DateTimeOffset now,
        X509SvidValidationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(bundles);
        options ??= X509SvidValidationOptions.Default;

        var profileError = SvidProfile.CheckLeaf(leaf, out var id, out var reason);
        if (profileError != X509SvidValidationError.None)
        {
            return Fail(profileError, leaf, reason, id);
        }

        var timeError = CheckTime(leaf, now, options.ClockSkew, out reason);
        if (timeError != X509SvidValidationError.None)
        {
            return Fail(timeError, leaf, reason, id);
        }

        if (!bundles.TryGetBundle(id.TrustDomain, out var bundle))
        {
            return X509SvidValidationResult.Failure(
                X509SvidValidationError.UnknownTrustDomain,
                $"Certificate for '{id}' is not trusted: no trust bundle is configured for trust domain '{id.TrustDomain}'.",
                id);
        }

        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(bundle.X509AuthorityCollection);
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.VerificationTime = now.UtcDateTime;
        policy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid | X509VerificationFlags.IgnoreCtlNotTimeValid;
        if (intermediates is not null)
        {
            foreach (var intermediate in intermediates)
            {
                policy.ExtraStore.Add(intermediate);
            }
        }

        // Every certificate of the bundle is a trust anchor, self-signed or not (SPIFFE bundles, go-spiffe, SPIRE): a chain that
        // ends at a bundle certificate whose own issuer is not there is complete, not partial.
        var built = chain.Build(leaf) || EndsAtBundleCertificate(chain, bundle);
        var elements = new List<X509Certificate2>(chain.ChainElements.Count);
        foreach (var element in chain.ChainElements)
        {
            elements.Add(element.Certificate);
        }

        // The SDK enforces URI name constraints itself: platforms differ in whether they do (SPECS.md §11.1).
        for (var i = 1; i < elements.Count; i++)
        {
            if (!CheckNameConstraints(elements[i], id, out reason))
            {
                return Fail(X509SvidValidationError.NameConstraintViolation, leaf, reason, id);
            }
        }

        if (!built)
        {
            var flags = X509ChainStatusFlags.NoError;
            foreach (var status in chain.ChainStatus)
            {
                flags |= status.Status;
            }

            const X509ChainStatusFlags NameFlags = X509ChainStatusFlags.HasNotPermittedNameConstraint | X509ChainStatusFlags.HasExcludedNameConstraint |
                X509ChainStatusFlags.HasNotDefinedNameConstraint | X509ChainStatusFlags.HasNotSupportedNameConstraint | X509ChainStatusFlags.InvalidNameConstraints;
            var error = (flags & NameFlags) != 0 ? X509SvidValidationError.NameConstraintViolation : X509SvidValidationError.UntrustedChain;
            return Fail(error, leaf, $"its chain does not lead to an X.509 authority of trust domain '{id.TrustDomain}' ({flags})", id);
        }

        var root = elements[^1];
        if (!bundle.ContainsAuthority(root))
        {
            return Fail(X509SvidValidationError.UntrustedChain, leaf, $"its chain ends at '{DisplayText.Truncate(root.Subject)}', which is not in the bundle of '{id.TrustDomain}'", id);
        }

        for (var i = 1; i < elements.Count; i++)
        {
            if (!SvidProfile.IsSigningCertificate(elements[i]))
            {
                return Fail(X509SvidValidationError.InvalidIntermediate, leaf, $"CA certificate '{DisplayText.Truncate(elements[i].Subject)}' in its chain is not a signing certificate (cA=true, keyCertSign)", id);
            }

            timeError = CheckTime(elements[i], now, options.ClockSkew, out reason);
            if (timeError != X509SvidValidationError.None)
            {
                return Fail(timeError, leaf, $"CA certificate '{DisplayText.Truncate(elements[i].Subject)}' {reason}", id);
            }
        }

        return X509SvidValidationResult.Success(id, elements);
    }

    private static bool EndsAtBundleCertificate(X509Chain chain, TrustBundle bundle)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var status in chain.ChainStatus)
        {
            flags |= status.Status;
        }

        return flags == X509ChainStatusFlags.PartialChain
            && chain.ChainElements.Count > 1
            && bundle.ContainsAuthority(chain.ChainElements[^1].Certificate);
    }

    private static X509SvidValidationResult Fail(X509SvidValidationError error, X509Certificate2 leaf, string reason, SpiffeId id) =>
        X509SvidValidationResult.Failure(
            error,
            $"Certificate {(id.IsEmpty ? $"with serial {leaf.SerialNumber}" : $"'{id}' (serial {leaf.SerialNumber})")} is not a valid X.509-SVID: {reason}.",
            id);

    private static X509SvidValidationError CheckTime(X509Certificate2 certificate, DateTimeOffset now, TimeSpan skew, out string reason)
    {
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        if (now + skew < notBefore)
        {
            reason = $"is not valid until {notBefore:O} (now {now.ToUniversalTime():O}, allowed skew {skew})";
            return X509SvidValidationError.NotYetValid;
        }

        if (now - skew > notAfter)
        {
            reason = $"expired at {notAfter:O} (now {now.ToUniversalTime():O}, allowed skew {skew})";
            return X509SvidValidationError.Expired;
        }

        reason = string.Empty;
        return X509SvidValidationError.None;
    }

    private static bool CheckNameConstraints(X509Certificate2 ca, SpiffeId id, out string reason)
    {
        reason = string.Empty;
        if (CertificateExtensions.Find(ca, Oids.NameConstraints) is not { } extension)
        {
            return true;
        }

        if (!CertificateExtensions.TryReadUriNameConstraints(extension, out var permitted, out var excluded))
        {
            reason = $"the name constraints of CA '{DisplayText.Truncate(ca.Subject)}' cannot be decoded";
            return false;
        }

        var host = id.TrustDomain.Name;
        foreach (var constraint in excluded)
        {
            if (CertificateExtensions.UriHostMatches(host, constraint))
            {
                reason = $"CA '{DisplayText.Truncate(ca.Subject)}' excludes URIs with host '{constraint}'";
                return false;
            }
        }

        if (permitted.Count == 0)
        {
            return true;
        }

        foreach (var constraint in permitted)
        {
            if (CertificateExtensions.UriHostMatches(host, constraint))
            {
                return true;
            }
        }

        reason = $"CA '{DisplayText.Truncate(ca.Subject)}' permits only URIs with host {string.Join(", ", permitted.Select(p => $"'{p}'"))}, not '{host}'";
        return false;
    }
}
