using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>The HTTP handlers: rate-limit, bind the body to its wire record (<see cref="IssuerJsonContext"/>), validate,
/// authenticate, sign, record, answer (RFC 7807 problem details on failure).</summary>
internal sealed partial class IssuerEndpoints
{
    private const int MaxBodyBytes = 64 * 1024;
    private readonly AgentIdentityIssuer _issuer;
    private readonly IssuerRateLimiter _limiter;
    private readonly IRevocationRegistry? _registry;
    private readonly AdminAuthorization _admin;

    /// <param name="issuer">The issuer.</param>
    /// <param name="admin">Authorizes the administration endpoints by the operator's SVID.</param>
    /// <param name="registry">The revocation registry every issuance is checked against; <see langword="null"/> for none (a custom
    /// store without a registry: only the store's revoked flag is enforced).</param>
    public IssuerEndpoints(AgentIdentityIssuer issuer, AdminAuthorization admin, IRevocationRegistry? registry = null)
    {
        _issuer = issuer;
        _admin = admin;
        _registry = registry;
        _limiter = new IssuerRateLimiter(issuer);
    }

    /// <summary>Gets the rate limits of every issuer endpoint.</summary>
    internal IssuerRateLimiter Limiter => _limiter;

    public Task IssueAsync(HttpContext context) => HandleAsync(context, "issue", async (body, caller) =>
    {
        var request = Bind(body, IssuerJsonContext.Default.IssuerEnrollRequest);
        var token = RequireString(request.JoinToken, IssuerProtocol.JoinToken, 256);
        var (id, csr, lifetime) = ReadCommon(request);
        var tokenHash = AgentIdentityIssuer.HashToken(token);
        var record = await _issuer.Store.FindJoinTokenAsync(tokenHash, context.RequestAborted).ConfigureAwait(false);
        var now = _issuer.Time.GetUtcNow();
        if (record is null)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Unknown join token", "The join token is not known to this issuer; ask the orchestrator for a new one.");
        }

        if (record.RedeemedBy is { } by && by.StartsWith(SqlIssuerStore.VoidedPrefix, StringComparison.Ordinal))
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Join token voided by revocation",
                $"The join token for agent '{record.AgentName}' was voided by revocation #{by[SqlIssuerStore.VoidedPrefix.Length..]}: the identity it enrolls is revoked.");
        }

        if (record.RedeemedAt is not null)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Join token already used", "The join token was already redeemed; join tokens are single-use. Ask for a new one.");
        }

        if (record.ExpiresAt <= now)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Join token expired", $"The join token expired at {record.ExpiresAt:O}; ask for a new one.");
        }

        if (!id.TryGetAgent(out var agentName, out _) || agentName != record.AgentName || !id.IsMemberOf(_issuer.TrustDomain))
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity not allowed by the join token",
                $"The join token enrolls an instance of agent '{record.AgentName}' (spiffe://{_issuer.TrustDomain}/agent/{record.AgentName}/<instance>); it cannot enroll '{id}'.");
        }

        if (id.GetSegments().Length != 3)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity not allowed by the join token",
                $"A join token enrolls exactly one agent instance, spiffe://{_issuer.TrustDomain}/agent/{record.AgentName}/<instance>; '{id}' has more path segments (task identities are delegated, not enrolled).");
        }

        if (_registry is not null && await _registry.GetIdentityRevocationAsync(id, context.RequestAborted).ConfigureAwait(false) is { } revoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity revoked",
                $"'{id}' is covered by revocation {revoked} (revoked identity '{revoked.Subject}'); the join token cannot enroll it.");
        }

        if (record.BoundSpiffeId is { } bound && bound != id.ToString())
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity not allowed by the join token", $"The join token is bound to '{bound}'; it cannot enroll '{id}'.");
        }

        if (await _issuer.Store.FindIdentityAsync(id.ToString(), context.RequestAborted).ConfigureAwait(false) is { } enrolled
            && (enrolled.Revoked || record.BoundSpiffeId is null || enrolled.ParentId is not null))
        {
            throw enrolled.Revoked
                ? new Refusal(StatusCodes.Status403Forbidden, "Identity revoked", $"'{id}' is revoked; a revoked identity is never enrolled again. Enroll a new instance ID.")
                : new Refusal(StatusCodes.Status409Conflict, "Identity already enrolled", $"'{id}' is already enrolled; a join token enrolls a new instance and never takes over an enrolled one. Choose a new instance ID, or re-enroll this instance with a token bound to it (AgentIdentityIssuer.CreateJoinTokenAsync(SpiffeId, ...)).");
        }

        var policy = record.Policy is null ? null : AgentPolicy.FromDer(record.Policy);
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = policy });
        var certificate = Record(issuance, id, "enroll", now);
        if (!await _issuer.Store.RedeemJoinTokenAsync(tokenHash, now, new IdentityRecord(id.ToString(), record.Policy, null, now, false), certificate, context.RequestAborted).ConfigureAwait(false))
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Join token already used", $"The join token was redeemed concurrently by another request, or '{id}' was enrolled concurrently; join tokens are single-use.");
        }

        _admin.Audit.Issued(context, certificate);
        return Done(issuance, certificate, caller);
    });

    public Task RenewAsync(HttpContext context) => HandleAsync(context, "renew", async (body, caller) =>
    {
        var current = AuthenticateClient(context, "Renewal requires mTLS with the current SVID");
        var request = Bind(body, IssuerJsonContext.Default.IssuerRenewRequest);
        var (id, csr, lifetime) = ReadCommon(request);
        if (id != current)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity mismatch", $"The client certificate is '{current}'; it can renew only itself, not '{id}'.");
        }

        var identity = await _issuer.Store.FindIdentityAsync(id.ToString(), context.RequestAborted).ConfigureAwait(false);
        if (identity is null)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity not enrolled", $"'{id}' is not enrolled with this issuer; enroll with a join token.");
        }

        var presented = context.Connection.ClientCertificate!;
        var presentedSerial = presented.SerialNumber;
        await RefuseRevokedAsync(presented, id, "renew", context.RequestAborted).ConfigureAwait(false);
        if (identity.Revoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity revoked", $"'{id}' is revoked in the issuer's store; a revoked identity is never renewed. Enroll a new instance with a join token.");
        }

        if (identity.ParentId is not null)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Task identities are renewed by delegation", $"'{id}' is a task identity of '{identity.ParentId}'; its parent renews it through v1/delegate.");
        }

        var (issuance, certificate) = await IssueRenewalAsync(id, csr, lifetime, identity, presentedSerial, "client certificate", context).ConfigureAwait(false);
        return Done(issuance, certificate, caller);
    });

    public Task DelegateAsync(HttpContext context) => HandleAsync(context, "delegate", async (body, caller) =>
    {
        var parentId = AuthenticateClient(context, "Delegation requires mTLS with the parent SVID");
        var request = Bind(body, IssuerJsonContext.Default.IssuerDelegateRequest);
        var (id, csr, lifetime) = ReadCommon(request);
        var policyDer = RequireBytes(request.Policy, IssuerProtocol.Policy, AgentPolicy.MaxEncodedLength);
        if (!AgentPolicy.TryFromDer(policyDer, out var policy, out var policyError))
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy' is not a valid DER agent policy: {policyError}.");
        }

        var signature = RequireBytes(request.ProofSignature, IssuerProtocol.ProofSignature, 1024);
        var parentRecord = await _issuer.Store.FindIdentityAsync(parentId.ToString(), context.RequestAborted).ConfigureAwait(false);
        if (parentRecord is null)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Parent not enrolled", $"The parent '{parentId}' is not enrolled with this issuer.");
        }

        var parentCertificate = context.Connection.ClientCertificate!;
        await RefuseRevokedAsync(parentCertificate, parentId, "delegate", context.RequestAborted).ConfigureAwait(false);
        if (parentRecord.Revoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Parent identity revoked", $"The parent '{parentId}' is revoked in the issuer's store; a revoked identity cannot delegate.");
        }

        if (_registry is not null && await _registry.GetIdentityRevocationAsync(id, context.RequestAborted).ConfigureAwait(false) is { } taskRevoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity revoked", $"'{id}' is covered by revocation {taskRevoked}; a revoked task identity is never issued again.");
        }

        var proof = new DelegationProof(parentCertificate, _issuer.State.Intermediates, signature);
        var now = _issuer.Time.GetUtcNow();
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = policy, Delegation = proof });
        var certificate = Record(issuance, id, "delegate", now);
        await _issuer.Store.RecordIssuanceAsync(new IdentityRecord(id.ToString(), policy!.ToDer(), parentId.ToString(), now, false), certificate, context.RequestAborted).ConfigureAwait(false);
        _admin.Audit.Issued(context, certificate);
        return Done(issuance, certificate, caller);
    });

    public async Task BundleAsync(HttpContext context)
    {
        var caller = CallerKey(context);
        if (!await AcquireAsync(context, caller, "bundle").ConfigureAwait(false))
        {
            return;
        }

        context.Response.ContentType = IssuerProtocol.JsonMediaType;
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.WriteAsync(_issuer.GetBundle().ToJson(), context.RequestAborted).ConfigureAwait(false);
    }

    public Task CreateJoinTokenAsync(HttpContext context) => HandleAsync(context, "join-tokens", async (body, caller) =>
    {
        await _admin.AuthorizeAsync(context, "join-tokens", IssuerAdminActions.JoinToken, allowBootstrapKey: true).ConfigureAwait(false);

        var request = Bind(body, IssuerJsonContext.Default.IssuerJoinTokenRequest);
        var agentName = RequireString(request.AgentName, IssuerProtocol.AgentName, 128);
        if (AgentIdentityIssuer.ValidateAgentName(agentName) is { } nameError)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid agent name", nameError);
        }

        var ttl = request.TtlSeconds is { } seconds ? RequirePositive(seconds, IssuerProtocol.TtlSeconds) : 600;
        if (TimeSpan.FromSeconds(ttl) > _issuer.Options.MaxJoinTokenLifetime)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid ttlSeconds", $"'ttlSeconds' must be at most {(long)_issuer.Options.MaxJoinTokenLifetime.TotalSeconds}.");
        }

        var policy = request.Policy is { } policyRequest ? ReadPolicy(policyRequest) : null;
        var token = await _issuer.CreateJoinTokenAsync(agentName, policy, TimeSpan.FromSeconds(ttl), context.RequestAborted).ConfigureAwait(false);
        _admin.Audit.JoinTokenCreated(context, agentName, token, _issuer.Time.GetUtcNow().AddSeconds(ttl));
        return JsonSerializer.SerializeToUtf8Bytes(
            new IssuerJoinTokenResponse { JoinToken = token, AgentName = agentName, ExpiresAt = _issuer.Time.GetUtcNow().AddSeconds(ttl) },
            IssuerJsonContext.Default.IssuerJoinTokenResponse);
    });

    internal async Task HandleAsync(HttpContext context, string endpoint, Func<JsonElement, string, Task<byte[]>> handler)
    {
        var caller = CallerKey(context);
        if (!await AcquireAsync(context, caller, endpoint).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            if (!context.Request.IsHttps)
            {
                throw new Refusal(StatusCodes.Status400BadRequest, "HTTPS required", "The issuer answers only over HTTPS.");
            }

            if (context.Request.ContentType is not { } type || !type.StartsWith(IssuerProtocol.JsonMediaType, StringComparison.OrdinalIgnoreCase))
            {
                throw new Refusal(StatusCodes.Status415UnsupportedMediaType, "JSON required", "Send the request body as application/json.");
            }

            var body = await ReadBodyAsync(context).ConfigureAwait(false);
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
            }
            catch (JsonException ex)
            {
                throw new Refusal(StatusCodes.Status400BadRequest, "Malformed JSON", $"The request body is not valid JSON: {ex.Message}");
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new Refusal(StatusCodes.Status400BadRequest, "Malformed request", "The request body must be a JSON object.");
                }

                var response = await handler(document.RootElement, caller).ConfigureAwait(false);
                context.Response.ContentType = IssuerProtocol.JsonMediaType;
                context.Response.Headers.CacheControl = "no-store";
                await context.Response.Body.WriteAsync(response, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Refusal refusal)
        {
            _issuer.Logger.RequestRefused(endpoint, caller, refusal.Status, refusal.Message);
            _admin.Audit.Refused(context, endpoint, refusal.Status, refusal.Title, refusal.Message);
            await WriteProblemAsync(context, refusal.Status, refusal.Title, refusal.Message).ConfigureAwait(false);
        }
        catch (IssuerStoreUnavailableException ex)
        {
            _issuer.Logger.StoreUnavailable(endpoint, ex);
            _admin.Audit.Refused(context, endpoint, StatusCodes.Status503ServiceUnavailable, "Issuer store unavailable", "The issuer's database is unavailable; nothing was issued or recorded.");
            await WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, "Issuer store unavailable",
                "The issuer's database is unavailable; nothing was issued or recorded. Retry later.").ConfigureAwait(false);
        }
    }

    /// <summary>Takes the rate-limit permits of the request (see <see cref="IssuerRateLimiter"/>), or answers 429.</summary>
    /// <param name="context">The request.</param>
    /// <param name="caller">The caller as logged (<see cref="CallerKey"/>); the limit is keyed on the validated identity or the address prefix.</param>
    /// <param name="endpoint">The endpoint.</param>
    internal async Task<bool> AcquireAsync(HttpContext context, string caller, string endpoint)
    {
        if (_limiter.TryAcquire(context, endpoint) is not { } refusal)
        {
            return true;
        }

        _issuer.Logger.RateLimited(refusal.Global ? $"{refusal.Partition} (global anonymous limit; presented {caller})" : $"{refusal.Partition} (presented {caller})", endpoint);
        context.Response.Headers.RetryAfter = ((int)Math.Ceiling(refusal.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var options = _issuer.Options;
        await WriteProblemAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests", refusal.Global
            ? $"The issuer's anonymous endpoints (enrollment, renewal after expiry, bundle, revocation feed, CRL, OCSP) exceeded their global limit of {options.AnonymousRateLimitPermits} requests per {options.RateLimitWindow}; retry later."
            : $"The caller '{refusal.Partition}' exceeded {options.RateLimitPermits} requests per {options.RateLimitWindow}; retry later.").ConfigureAwait(false);
        return false;
    }

    private static async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            throw new Refusal(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The request body exceeds {MaxBodyBytes} bytes.");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw new Refusal(StatusCodes.Status413PayloadTooLarge, "Request too large", $"The request body exceeds {MaxBodyBytes} bytes.");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>The caller as logged: the presented client certificate (by SHA-256 thumbprint, validated or not), else the remote
    /// address. Not the rate-limit key (<see cref="IssuerRateLimiter.PartitionKey"/>).</summary>
    internal static string CallerKey(HttpContext context)
    {
        if (context.Connection.ClientCertificate is { } certificate)
        {
            return "cert:" + certificate.GetCertHashString(HashAlgorithmName.SHA256);
        }

        return context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
    }

    private SpiffeId AuthenticateClient(HttpContext context, string requirement)
    {
        if (context.Connection.ClientCertificate is not { } certificate)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Client certificate required", $"{requirement}; none was presented.");
        }

        var state = _issuer.State;
        var result = X509SvidValidator.Validate(certificate, state.Intermediates, state.Bundle, _issuer.Time.GetUtcNow());
        if (!result.IsValid)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Client certificate rejected", $"The client certificate is not a valid SVID of this issuer: {result.Reason}");
        }

        return result.Id;
    }

    /// <summary>Refuses (403, naming the revocation) a client certificate that is revoked: by serial, through its identity or an
    /// ancestor path, or through its delegation chain (a revoked ancestor identity or certificate).</summary>
    private async Task RefuseRevokedAsync(X509Certificate2 certificate, SpiffeId id, string action, CancellationToken cancellationToken)
    {
        if (_registry is null)
        {
            return;
        }

        var who = action == "renew" ? "a revoked certificate cannot renew" : "a revoked parent cannot delegate";
        if (await _registry.GetCertificateRevocationAsync(certificate.SerialNumber, cancellationToken).ConfigureAwait(false) is { } bySerial)
        {
            var byIdentityEntry = bySerial.Kind == RevocationKind.Identity;
            throw new Refusal(StatusCodes.Status403Forbidden, (action == "renew" ? string.Empty : "Parent ") switch
            {
                var prefix when byIdentityEntry => prefix.Length == 0 ? "Identity revoked" : "Parent identity revoked",
                var prefix => prefix.Length == 0 ? "Certificate revoked" : "Parent certificate revoked",
            },
                $"The client certificate of '{id}' (serial {certificate.SerialNumber}) is revoked by revocation {bySerial}" +
                (byIdentityEntry ? $" (revoked identity '{bySerial.Subject}', which covers it)" : string.Empty) + $"; {who}.");
        }

        if (await _registry.GetIdentityRevocationAsync(id, cancellationToken).ConfigureAwait(false) is { } byIdentity)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, action == "renew" ? "Identity revoked" : "Parent identity revoked",
                $"'{id}' is covered by revocation {byIdentity} (revoked identity '{byIdentity.Subject}'); {who}.");
        }

        DelegationChain? chain;
        try
        {
            chain = AgentPolicyExtension.ReadDelegationChain(certificate);
        }
        catch (PolicyFormatException)
        {
            chain = null;
        }

        foreach (var link in chain ?? Enumerable.Empty<DelegationLink>())
        {
            if (await _registry.GetIdentityRevocationAsync(link.Id, cancellationToken).ConfigureAwait(false) is { } byAncestor)
            {
                throw new Refusal(StatusCodes.Status403Forbidden, "Delegation chain revoked",
                    $"The delegation chain of '{id}' names '{link.Id}', which is covered by revocation {byAncestor}; {who}.");
            }
        }
    }

    private (SpiffeId Id, byte[] Csr, TimeSpan Lifetime) ReadCommon(IIssuerSvidRequest request)
    {
        var idText = RequireString(request.SpiffeId, IssuerProtocol.SpiffeId, 2048);
        if (!SpiffeId.TryParse(idText, out var id, out var idError))
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid spiffeId", $"'spiffeId' is not a valid SPIFFE ID: {idError}.");
        }

        if (!id.IsMemberOf(_issuer.TrustDomain))
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Foreign trust domain", $"This issuer serves trust domain '{_issuer.TrustDomain}'; it cannot issue '{id}'.");
        }

        var csr = RequireBytes(request.Csr, IssuerProtocol.Csr, 16 * 1024);
        var lifetime = _issuer.Options.MaxSvidLifetime;
        if (request.LifetimeSeconds is { } seconds)
        {
            var requested = TimeSpan.FromSeconds(RequirePositive(seconds, IssuerProtocol.LifetimeSeconds));
            lifetime = requested < lifetime ? requested : lifetime;
        }

        return (id, csr, lifetime);
    }

    private EncodedLeaf Sign(X509SvidRequest request)
    {
        try
        {
            return _issuer.State.Signer.IssueEncoded(request);
        }
        catch (CertificateIssuanceException ex)
        {
            var delegation = ex.Data["DelegationError"] is not null;
            throw new Refusal(
                delegation ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest,
                delegation ? "Delegation refused" : "Invalid certificate signing request",
                ex.Message);
        }
    }

    private static IssuedCertificateRecord Record(EncodedLeaf issuance, SpiffeId id, string kind, DateTimeOffset now) =>
        new(issuance.SerialNumber, id.ToString(), kind, issuance.NotBefore, issuance.NotAfter, now, issuance.Certificate);

    private byte[] Done(EncodedLeaf issuance, IssuedCertificateRecord record, string caller)
    {
        _issuer.Logger.SvidIssued(record.Kind, record.SpiffeId, record.SerialNumber, record.NotAfter);
        return JsonSerializer.SerializeToUtf8Bytes(
            new IssuerIssuanceResponse
            {
                SpiffeId = record.SpiffeId,
                Certificates = [issuance.Certificate, .. issuance.Intermediates.Select(intermediate => intermediate.RawData)],
                Bundle = issuance.Bundle.ToJsonString(),
                ExpiresAt = record.NotAfter,
            },
            IssuerJsonContext.Default.IssuerIssuanceResponse);
    }

    private static AgentPolicy ReadPolicy(IssuerJoinTokenPolicy policy)
    {
        var depth = policy.MaxDelegationDepth is { } d ? RequireNonNegative(d, $"{IssuerProtocol.Policy}.{IssuerProtocol.MaxDelegationDepth}") : 0;
        try
        {
            return new AgentPolicy(
                Strings(policy.Services, IssuerProtocol.Services),
                Strings(policy.Actions, IssuerProtocol.Actions),
                Strings(policy.Tools, IssuerProtocol.Tools),
                depth,
                Strings(policy.DelegationTargets, IssuerProtocol.DelegationTargets));
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy' is invalid: {ex.Message}");
        }
    }

    private static List<string>? Strings(IReadOnlyList<string?>? values, string name)
    {
        if (values is null)
        {
            return null;
        }

        var list = new List<string>(values.Count);
        foreach (var value in values)
        {
            list.Add(value ?? throw PolicyStringsRefusal(name, elements: true));
        }

        return list;
    }

    /// <summary>Binds the body (a JSON object) to its wire record, after the endpoint has authenticated the caller. A member of
    /// the wrong type gets the same specific problem as a missing or invalid value of that member; unknown members are ignored.</summary>
    internal static TRequest Bind<TRequest>(JsonElement body, JsonTypeInfo<TRequest> requestType)
        where TRequest : class
    {
        try
        {
            return body.Deserialize(requestType)!;
        }
        catch (JsonException ex)
        {
            throw MemberRefusal(body, ex.Path, policyIsObject: typeof(TRequest) == typeof(IssuerJoinTokenRequest));
        }
    }

    /// <summary>The problem for a member the serializer could not convert, located by the exception's JSON path (<c>$.csr</c>, <c>$.policy.tools[1]</c>).</summary>
    private static Refusal MemberRefusal(JsonElement root, string? path, bool policyIsObject)
    {
        var segments = (path ?? "$").TrimStart('$').TrimStart('.').Split('.', 2);
        var bracket = segments[0].IndexOf('[', StringComparison.Ordinal);
        var name = bracket < 0 ? segments[0] : segments[0][..bracket];
        switch (name)
        {
            case IssuerProtocol.LifetimeSeconds or IssuerProtocol.TtlSeconds:
                return IntegerRefusal(name, allowZero: false);
            case IssuerProtocol.Policy when policyIsObject:
                if (segments.Length == 1)
                {
                    return new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", "'policy' must be an object with 'services', 'actions', 'tools', 'delegationTargets' (string arrays) and 'maxDelegationDepth' (integer).");
                }

                var member = segments[1];
                var index = member.IndexOf('[', StringComparison.Ordinal);
                return member == IssuerProtocol.MaxDelegationDepth
                    ? IntegerRefusal($"{IssuerProtocol.Policy}.{IssuerProtocol.MaxDelegationDepth}", allowZero: true)
                    : PolicyStringsRefusal(index < 0 ? member : member[..index], elements: index >= 0);
            case IssuerProtocol.Csr or IssuerProtocol.Policy or IssuerProtocol.ProofSignature
                when root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String:
                return new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is not valid base64.");
            case "":
                return new Refusal(StatusCodes.Status400BadRequest, "Malformed request", $"The request body does not fit the {IssuerProtocol.JsonMediaType} request of this endpoint.");
            default:
                return MissingRefusal(name);
        }
    }

    private static Refusal MissingRefusal(string name) => MissingRefusalFor(DisplayText.Truncate(name));

    private static Refusal MissingRefusalFor(string name) =>
        new(StatusCodes.Status400BadRequest, $"Missing {name}", $"'{name}' is required and must be a non-empty string.");

    private static Refusal IntegerRefusal(string name, bool allowZero) =>
        new(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' must be a {(allowZero ? "non-negative" : "positive")} 32-bit integer.");

    private static Refusal PolicyStringsRefusal(string member, bool elements) =>
        new(StatusCodes.Status400BadRequest, "Invalid policy", elements ? $"'policy.{member}' must contain only strings." : $"'policy.{member}' must be an array of strings.");

    internal static string RequireString(string? value, string name, int maxLength)
    {
        if (value is not { Length: > 0 })
        {
            throw MissingRefusal(name);
        }

        return value.Length <= maxLength ? value : throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is longer than {maxLength} characters.");
    }

    private static byte[] RequireBytes(byte[]? value, string name, int maxBytes)
    {
        if (value is not { Length: > 0 })
        {
            throw MissingRefusal(name);
        }

        return value.Length <= maxBytes ? value : throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is longer than {maxBytes} bytes.");
    }

    private static int RequirePositive(int value, string name) => value > 0 ? value : throw IntegerRefusal(name, allowZero: false);

    private static int RequireNonNegative(int value, string name) => value >= 0 ? value : throw IntegerRefusal(name, allowZero: true);

    internal static async Task WriteProblemAsync(HttpContext context, int status, string title, string detail)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = IssuerProtocol.ProblemMediaType;
        var body = JsonSerializer.SerializeToUtf8Bytes(
            new IssuerProblem { Type = $"https://httpstatuses.io/{status}", Title = title, Status = status, Detail = detail },
            IssuerJsonContext.Default.IssuerProblem);
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    internal sealed class Refusal(int status, string title, string detail) : Exception(detail)
    {
        public int Status { get; } = status;

        public string Title { get; } = title;
    }
}
