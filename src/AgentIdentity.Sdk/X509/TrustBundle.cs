using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace AgentIdentity;

/// <summary>Supplies the trust bundle of a trust domain. Bundles of different trust domains are never merged.</summary>
public interface ITrustBundleSource
{
    /// <summary>Gets the bundle for <paramref name="trustDomain"/>.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="bundle">The bundle, when one is known.</param>
    /// <returns><see langword="true"/> when a bundle is known for the trust domain.</returns>
    /// <remarks>Thread-safe and non-blocking.</remarks>
    bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle);
}

/// <summary>
/// The SPIFFE trust bundle of one trust domain: its X.509 authorities (and JWT authorities, kept for round trips), with the
/// <c>spiffe_sequence</c> and <c>spiffe_refresh_hint</c> of the SPIFFE bundle format (SPECS.md §4). Immutable.
/// </summary>
/// <remarks>A bundle is its own <see cref="ITrustBundleSource"/> for its trust domain.</remarks>
public sealed class TrustBundle : ITrustBundleSource
{
    private const string X509SvidUse = "x509-svid";
    private const string JwtSvidUse = "jwt-svid";
    private readonly X509Certificate2[] _x509Authorities;
    private readonly HashSet<string> _authorityThumbprints;
    private readonly IReadOnlyList<string> _otherKeys; // JWKs the SDK does not use (e.g. use "wit-svid"), kept verbatim for relaying
    private string? _json; // the bundle is immutable: its document is written once (the issuer sends it with every SVID)

    /// <summary>Initializes a new instance of the <see cref="TrustBundle"/> class.</summary>
    /// <param name="trustDomain">The trust domain the bundle belongs to.</param>
    /// <param name="x509Authorities">The X.509 CA certificates; each must be a CA certificate.</param>
    /// <param name="sequenceNumber">The <c>spiffe_sequence</c>, if known.</param>
    /// <param name="refreshHint">The <c>spiffe_refresh_hint</c>, if known.</param>
    /// <exception cref="ArgumentException">The trust domain is empty, or an authority is not a CA certificate.</exception>
    public TrustBundle(TrustDomain trustDomain, IEnumerable<X509Certificate2> x509Authorities, long? sequenceNumber = null, TimeSpan? refreshHint = null)
        : this(trustDomain, x509Authorities, [], [], sequenceNumber, refreshHint)
    {
    }

    private TrustBundle(TrustDomain trustDomain, IEnumerable<X509Certificate2> x509Authorities, IReadOnlyList<string> jwtAuthorities, IReadOnlyList<string> otherKeys, long? sequenceNumber, TimeSpan? refreshHint)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        ArgumentNullException.ThrowIfNull(x509Authorities);
        TrustDomain = trustDomain;
        _x509Authorities = [.. x509Authorities];
        foreach (var authority in _x509Authorities)
        {
            if (!SvidProfile.IsSigningCertificate(authority))
            {
                throw new ArgumentException($"Certificate '{authority.Subject}' is not a CA certificate (cA=true, keyCertSign), so it cannot be an X.509 authority of '{trustDomain}'.", nameof(x509Authorities));
            }
        }

        _authorityThumbprints = new HashSet<string>(_x509Authorities.Select(CertificateExtensions.Sha256Hex), StringComparer.Ordinal);
        X509AuthorityCollection = [.. _x509Authorities];
        JwtAuthorities = jwtAuthorities;
        _otherKeys = otherKeys;
        SequenceNumber = sequenceNumber;
        RefreshHint = refreshHint;
    }

    /// <summary>Gets the trust domain the bundle belongs to.</summary>
    public TrustDomain TrustDomain { get; }

    /// <summary>Gets the X.509 authorities (CA certificates).</summary>
    public IReadOnlyList<X509Certificate2> X509Authorities => _x509Authorities;

    /// <summary>Gets the JWT authorities as the JWK JSON texts they were read from (<c>use: jwt-svid</c>).</summary>
    public IReadOnlyList<string> JwtAuthorities { get; }

    /// <summary>Gets the <c>spiffe_sequence</c>, if present.</summary>
    public long? SequenceNumber { get; }

    /// <summary>Gets the <c>spiffe_refresh_hint</c>, if present.</summary>
    public TimeSpan? RefreshHint { get; }

    internal X509Certificate2Collection X509AuthorityCollection { get; }

    internal bool ContainsAuthority(X509Certificate2 certificate) =>
        _authorityThumbprints.Contains(CertificateExtensions.Sha256Hex(certificate));

    /// <inheritdoc/>
    public bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle)
    {
        bundle = trustDomain == TrustDomain ? this : null;
        return bundle is not null;
    }

    /// <summary>Parses a SPIFFE bundle (a JWK set) for <paramref name="trustDomain"/>.</summary>
    /// <param name="trustDomain">The trust domain; the document itself does not name it.</param>
    /// <param name="utf8Json">The UTF-8 JSON document.</param>
    /// <returns>The bundle.</returns>
    /// <exception cref="FormatException">The document is not a valid SPIFFE bundle; the message says what is wrong and where.</exception>
    /// <remarks>
    /// As the SPIFFE spec says, JWKs with an unknown <c>use</c> or <c>kty</c>, and X.509 entries without <c>x5c</c>, are ignored;
    /// of several <c>x5c</c> elements only the first is used. Ignored JWKs (for example <c>use: wit-svid</c>) are kept verbatim and
    /// written back by <see cref="ToJson"/>, so that a bundle endpoint relaying the bundle does not strip them. Duplicate JSON members, a missing <c>keys</c> member, and an
    /// <c>x5c</c> certificate that is not a CA or does not match the JWK's public key are errors.
    /// </remarks>
    public static TrustBundle Parse(TrustDomain trustDomain, ReadOnlySpan<byte> utf8Json)
    {
        if (trustDomain.IsEmpty)
        {
            throw new ArgumentException("The trust domain is empty.", nameof(trustDomain));
        }

        JsonDocument document;
        try
        {
            var bytes = utf8Json.ToArray();
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new FormatException($"Trust bundle for '{trustDomain}' is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(trustDomain, "the document must be a JSON object (a JWK set)");
            }

            if (!root.TryGetProperty("keys", out var keys))
            {
                throw Invalid(trustDomain, "the 'keys' member is missing");
            }

            if (keys.ValueKind != JsonValueKind.Array)
            {
                throw Invalid(trustDomain, "the 'keys' member must be an array");
            }

            long? sequence = null;
            if (root.TryGetProperty("spiffe_sequence", out var seq))
            {
                sequence = seq.ValueKind == JsonValueKind.Number && seq.TryGetInt64(out var s) && s >= 0
                    ? s
                    : throw Invalid(trustDomain, "'spiffe_sequence' must be a non-negative integer");
            }

            TimeSpan? refresh = null;
            if (root.TryGetProperty("spiffe_refresh_hint", out var hint))
            {
                refresh = hint.ValueKind == JsonValueKind.Number && hint.TryGetInt64(out var h) && h >= 0 && h <= int.MaxValue
                    ? TimeSpan.FromSeconds(h)
                    : throw Invalid(trustDomain, "'spiffe_refresh_hint' must be a non-negative integer number of seconds");
            }

            var authorities = new List<X509Certificate2>();
            var jwt = new List<string>();
            var other = new List<string>();
            var index = 0;
            try
            {
                foreach (var key in keys.EnumerateArray())
                {
                    if (!ParseKey(trustDomain, key, index++, authorities, jwt))
                    {
                        other.Add(key.GetRawText());
                    }
                }
            }
            catch
            {
                foreach (var authority in authorities)
                {
                    authority.Dispose();
                }

                throw;
            }

            return new TrustBundle(trustDomain, authorities, jwt, other, sequence, refresh);
        }
    }

    /// <summary>Parses a SPIFFE bundle given as a string.</summary>
    /// <param name="trustDomain">The trust domain.</param>
    /// <param name="json">The JSON document.</param>
    /// <returns>The bundle.</returns>
    /// <exception cref="FormatException">The document is not a valid SPIFFE bundle.</exception>
    public static TrustBundle Parse(TrustDomain trustDomain, string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return Parse(trustDomain, Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Reads one JWK; returns <see langword="false"/> when the SDK ignores it (it is then kept verbatim).</summary>
    private static bool ParseKey(TrustDomain td, JsonElement key, int index, List<X509Certificate2> authorities, List<string> jwt)
    {
        if (key.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(td, $"keys[{index}] must be a JSON object");
        }

        if (!key.TryGetProperty("kty", out var kty) || kty.ValueKind != JsonValueKind.String)
        {
            throw Invalid(td, $"keys[{index}] has no 'kty' string");
        }

        if (!key.TryGetProperty("use", out var use) || use.ValueKind != JsonValueKind.String)
        {
            return false; // SPIFFE: a JWK without 'use' is ignored.
        }

        var ktyValue = kty.GetString();
        if (ktyValue is not ("EC" or "RSA" or "OKP"))
        {
            return false; // Unknown key type: ignore that JWK only.
        }

        switch (use.GetString())
        {
            case X509SvidUse:
                if (!key.TryGetProperty("x5c", out var x5c) || x5c.ValueKind != JsonValueKind.Array || x5c.GetArrayLength() == 0)
                {
                    return false; // SPIFFE: ignore entries without x5c.
                }

                var first = x5c[0];
                if (first.ValueKind != JsonValueKind.String)
                {
                    throw Invalid(td, $"keys[{index}].x5c[0] must be a base64 string");
                }

                X509Certificate2 certificate;
                try
                {
                    certificate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(first.GetString()!));
                }
                catch (Exception ex) when (ex is FormatException or CryptographicException)
                {
                    throw new FormatException($"Trust bundle for '{td}' is invalid: keys[{index}].x5c[0] is not a base64 DER certificate ({ex.Message}).", ex);
                }

                try
                {
                    if (!SvidProfile.IsSigningCertificate(certificate))
                    {
                        throw Invalid(td, $"keys[{index}].x5c[0] ('{DisplayText.Truncate(certificate.Subject)}') is not a CA certificate");
                    }

                    if (ktyValue == "EC" && !EcKeyMatches(td, index, key, certificate))
                    {
                        throw Invalid(td, $"keys[{index}] has EC coordinates that do not match the public key of its x5c certificate");
                    }
                }
                catch (Exception ex) when (ex is FormatException or CryptographicException)
                {
                    certificate.Dispose();
                    throw ex as FormatException ?? new FormatException($"Trust bundle for '{td}' is invalid: keys[{index}].x5c[0] cannot be read as a CA certificate ({ex.Message}).", ex);
                }

                authorities.Add(certificate);
                return true;

            case JwtSvidUse:
                if (!key.TryGetProperty("kid", out var kid) || kid.ValueKind != JsonValueKind.String || kid.GetString()!.Length == 0)
                {
                    throw Invalid(td, $"keys[{index}] is a jwt-svid key without a 'kid'");
                }

                jwt.Add(key.GetRawText());
                return true;

            default:
                return false; // Unknown use: ignore that JWK only.
        }
    }

    private static bool EcKeyMatches(TrustDomain td, int index, JsonElement key, X509Certificate2 certificate)
    {
        if (!key.TryGetProperty("x", out var x) || !key.TryGetProperty("y", out var y))
        {
            return true; // Coordinates are optional when x5c is given.
        }

        if (x.ValueKind != JsonValueKind.String || y.ValueKind != JsonValueKind.String)
        {
            throw Invalid(td, $"keys[{index}] has EC coordinates 'x' and 'y' that are not both base64url strings");
        }

        using var ec = certificate.GetECDsaPublicKey();
        if (ec is null)
        {
            return false;
        }

        var p = ec.ExportParameters(false);
        return x.GetString() == Base64Url(p.Q.X!) && y.GetString() == Base64Url(p.Q.Y!);
    }

    /// <summary>Writes the bundle as a SPIFFE bundle JWK set.</summary>
    /// <returns>The UTF-8 JSON document.</returns>
    public byte[] ToJson() => Encoding.UTF8.GetBytes(ToJsonString());

    /// <summary>Writes the bundle as a SPIFFE bundle JWK set string.</summary>
    /// <returns>The JSON document.</returns>
    public string ToJsonString() => Volatile.Read(ref _json) ?? Interlocked.CompareExchange(ref _json, Encoding.UTF8.GetString(WriteJson()), null) ?? _json!;

    private byte[] WriteJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (SequenceNumber is { } sequence)
            {
                writer.WriteNumber("spiffe_sequence", sequence);
            }

            if (RefreshHint is { } hint)
            {
                writer.WriteNumber("spiffe_refresh_hint", (long)hint.TotalSeconds);
            }

            writer.WriteStartArray("keys");
            foreach (var authority in _x509Authorities)
            {
                WriteX509Jwk(writer, authority);
            }

            foreach (var jwk in JwtAuthorities)
            {
                writer.WriteRawValue(jwk);
            }

            foreach (var jwk in _otherKeys)
            {
                writer.WriteRawValue(jwk);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteX509Jwk(Utf8JsonWriter writer, X509Certificate2 authority)
    {
        writer.WriteStartObject();
        if (authority.GetECDsaPublicKey() is { } ec)
        {
            using (ec)
            {
                var p = ec.ExportParameters(false);
                writer.WriteString("kty", "EC");
                writer.WriteString("use", X509SvidUse);
                writer.WriteString("crv", p.Curve.Oid.FriendlyName switch
                {
                    "nistP256" or "ECDSA_P256" => "P-256",
                    "nistP384" or "ECDSA_P384" => "P-384",
                    "nistP521" or "ECDSA_P521" => "P-521",
                    var other => other,
                });
                writer.WriteString("x", Base64Url(p.Q.X!));
                writer.WriteString("y", Base64Url(p.Q.Y!));
            }
        }
        else if (authority.GetRSAPublicKey() is { } rsa)
        {
            using (rsa)
            {
                var p = rsa.ExportParameters(false);
                writer.WriteString("kty", "RSA");
                writer.WriteString("use", X509SvidUse);
                writer.WriteString("n", Base64Url(p.Modulus!));
                writer.WriteString("e", Base64Url(p.Exponent!));
            }
        }
        else
        {
            writer.WriteString("kty", "OKP");
            writer.WriteString("use", X509SvidUse);
        }

        writer.WriteStartArray("x5c");
        writer.WriteStringValue(Convert.ToBase64String(authority.RawData));
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static string Base64Url(byte[] data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    private static FormatException Invalid(TrustDomain td, string what) => new($"Trust bundle for '{td}' is invalid: {what}.");
}

/// <summary>An immutable set of trust bundles, one per trust domain.</summary>
public sealed class TrustBundleSet : ITrustBundleSource
{
    private readonly Dictionary<TrustDomain, TrustBundle> _bundles;

    /// <summary>Initializes a new instance of the <see cref="TrustBundleSet"/> class.</summary>
    /// <param name="bundles">The bundles; at most one per trust domain.</param>
    /// <exception cref="ArgumentException">Two bundles name the same trust domain.</exception>
    public TrustBundleSet(IEnumerable<TrustBundle> bundles)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        _bundles = [];
        foreach (var bundle in bundles)
        {
            if (!_bundles.TryAdd(bundle.TrustDomain, bundle))
            {
                throw new ArgumentException($"Two bundles were given for trust domain '{bundle.TrustDomain}'; bundles are never merged.", nameof(bundles));
            }
        }
    }

    /// <summary>Gets the bundles.</summary>
    public IReadOnlyCollection<TrustBundle> Bundles => _bundles.Values;

    /// <inheritdoc/>
    public bool TryGetBundle(TrustDomain trustDomain, [NotNullWhen(true)] out TrustBundle? bundle) =>
        _bundles.TryGetValue(trustDomain, out bundle);
}
