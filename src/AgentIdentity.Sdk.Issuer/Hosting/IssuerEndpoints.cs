using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.Issuer;

/// <summary>The HTTP handlers: parse and validate, authenticate, rate-limit, sign, record, answer (RFC 7807 problem details on failure).</summary>
internal sealed class IssuerEndpoints : IDisposable
{
    private const int MaxBodyBytes = 64 * 1024;
    private readonly AgentIdentityIssuer _issuer;
    private readonly PartitionedRateLimiter<string> _limiter;
    private readonly byte[]? _adminKeyHash;

    public IssuerEndpoints(AgentIdentityIssuer issuer)
    {
        _issuer = issuer;
        var options = issuer.Options;
        _limiter = PartitionedRateLimiter.Create<string, string>(caller => RateLimitPartition.GetFixedWindowLimiter(caller, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.RateLimitPermits,
            Window = options.RateLimitWindow,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
        _adminKeyHash = options.AdminApiKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes(key)) : null;
    }

    public void Dispose() => _limiter.Dispose();

    public Task IssueAsync(HttpContext context) => HandleAsync(context, "issue", async (request, caller) =>
    {
        var token = RequireString(request, "joinToken", 256);
        var (id, csr, lifetime) = ReadCommon(request);
        var tokenHash = AgentIdentityIssuer.HashToken(token);
        var record = await _issuer.Store.FindJoinTokenAsync(tokenHash, context.RequestAborted).ConfigureAwait(false);
        var now = _issuer.Time.GetUtcNow();
        if (record is null)
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Unknown join token", "The join token is not known to this issuer; ask the orchestrator for a new one.");
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

        var policy = record.Policy is null ? null : AgentPolicy.FromDer(record.Policy);
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = policy });
        var certificate = Record(issuance, id, "enroll", now);
        if (!await _issuer.Store.RedeemJoinTokenAsync(tokenHash, now, new IdentityRecord(id.ToString(), record.Policy, null, now, false), certificate, context.RequestAborted).ConfigureAwait(false))
        {
            issuance.Certificate.Dispose();
            throw new Refusal(StatusCodes.Status401Unauthorized, "Join token already used", "The join token was redeemed concurrently by another request; join tokens are single-use.");
        }

        return Done(issuance, certificate, caller);
    });

    public Task RenewAsync(HttpContext context) => HandleAsync(context, "renew", async (request, caller) =>
    {
        var current = AuthenticateClient(context, "Renewal requires mTLS with the current SVID");
        var (id, csr, lifetime) = ReadCommon(request);
        if (id != current)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity mismatch", $"The client certificate is '{current}'; it can renew only itself, not '{id}'.");
        }

        var identity = await _issuer.Store.FindIdentityAsync(id.ToString(), context.RequestAborted).ConfigureAwait(false);
        if (identity is null || identity.Revoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Identity not enrolled", $"'{id}' is not enrolled with this issuer{(identity is null ? string.Empty : " (it is revoked)")}; enroll with a join token.");
        }

        if (identity.ParentId is not null)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Task identities are renewed by delegation", $"'{id}' is a task identity of '{identity.ParentId}'; its parent renews it through v1/delegate.");
        }

        var now = _issuer.Time.GetUtcNow();
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = identity.Policy is null ? null : AgentPolicy.FromDer(identity.Policy) });
        var certificate = Record(issuance, id, "renew", now);
        await _issuer.Store.RecordIssuanceAsync(null, certificate, context.RequestAborted).ConfigureAwait(false);
        return Done(issuance, certificate, caller);
    });

    public Task DelegateAsync(HttpContext context) => HandleAsync(context, "delegate", async (request, caller) =>
    {
        var parentId = AuthenticateClient(context, "Delegation requires mTLS with the parent SVID");
        var (id, csr, lifetime) = ReadCommon(request);
        var policyDer = RequireBase64(request, "policy", AgentPolicy.MaxEncodedLength);
        if (!AgentPolicy.TryFromDer(policyDer, out var policy, out var policyError))
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy' is not a valid DER agent policy: {policyError}.");
        }

        var signature = RequireBase64(request, "proofSignature", 1024);
        var parentRecord = await _issuer.Store.FindIdentityAsync(parentId.ToString(), context.RequestAborted).ConfigureAwait(false);
        if (parentRecord is null || parentRecord.Revoked)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Parent not enrolled", $"The parent '{parentId}' is not enrolled with this issuer or is revoked.");
        }

        var parentCertificate = context.Connection.ClientCertificate!;
        var proof = new DelegationProof(parentCertificate, _issuer.State.Intermediates, signature);
        var now = _issuer.Time.GetUtcNow();
        var issuance = Sign(new X509SvidRequest(id, csr, lifetime) { Policy = policy, Delegation = proof });
        var certificate = Record(issuance, id, "delegate", now);
        await _issuer.Store.RecordIssuanceAsync(new IdentityRecord(id.ToString(), policy!.ToDer(), parentId.ToString(), now, false), certificate, context.RequestAborted).ConfigureAwait(false);
        return Done(issuance, certificate, caller);
    });

    public async Task BundleAsync(HttpContext context)
    {
        var caller = CallerKey(context);
        if (!await AcquireAsync(context, caller, "bundle").ConfigureAwait(false))
        {
            return;
        }

        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.WriteAsync(_issuer.GetBundle().ToJson(), context.RequestAborted).ConfigureAwait(false);
    }

    public Task CreateJoinTokenAsync(HttpContext context) => HandleAsync(context, "join-tokens", async (request, caller) =>
    {
        if (_adminKeyHash is null)
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Admin API disabled", "The join-token admin endpoint is disabled: configure AgentIdentityIssuerOptions.AdminApiKey, or create tokens in process with AgentIdentityIssuer.CreateJoinTokenAsync.");
        }

        var header = context.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : string.Empty;
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _adminKeyHash))
        {
            throw new Refusal(StatusCodes.Status401Unauthorized, "Admin key required", "Send the admin API key as 'Authorization: Bearer <key>'.");
        }

        var agentName = RequireString(request, "agentName", 128);
        if (AgentIdentityIssuer.ValidateAgentName(agentName) is { } nameError)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid agent name", nameError);
        }

        var ttl = request.TryGetProperty("ttlSeconds", out var ttlElement) ? ReadPositiveInt(ttlElement, "ttlSeconds") : 600;
        if (TimeSpan.FromSeconds(ttl) > _issuer.Options.MaxJoinTokenLifetime)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid ttlSeconds", $"'ttlSeconds' must be at most {(long)_issuer.Options.MaxJoinTokenLifetime.TotalSeconds}.");
        }

        var policy = request.TryGetProperty("policy", out var policyElement) && policyElement.ValueKind != JsonValueKind.Null ? ReadPolicy(policyElement) : null;
        var token = await _issuer.CreateJoinTokenAsync(agentName, policy, TimeSpan.FromSeconds(ttl), context.RequestAborted).ConfigureAwait(false);
        return Json(w =>
        {
            w.WriteString("joinToken", token);
            w.WriteString("agentName", agentName);
            w.WriteString("expiresAt", _issuer.Time.GetUtcNow().AddSeconds(ttl));
        });
    });

    private async Task HandleAsync(HttpContext context, string endpoint, Func<JsonElement, string, Task<byte[]>> handler)
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

            if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
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
                context.Response.ContentType = "application/json";
                context.Response.Headers.CacheControl = "no-store";
                await context.Response.Body.WriteAsync(response, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (Refusal refusal)
        {
            _issuer.Logger.RequestRefused(endpoint, caller, refusal.Status, refusal.Message);
            await WriteProblemAsync(context, refusal.Status, refusal.Title, refusal.Message).ConfigureAwait(false);
        }
        catch (IssuerStoreUnavailableException ex)
        {
            _issuer.Logger.StoreUnavailable(endpoint, ex);
            await WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, "Issuer store unavailable",
                "The issuer's database is unavailable; nothing was issued or recorded. Retry later.").ConfigureAwait(false);
        }
    }

    private async Task<bool> AcquireAsync(HttpContext context, string caller, string endpoint)
    {
        using var lease = _limiter.AttemptAcquire(caller);
        if (lease.IsAcquired)
        {
            return true;
        }

        _issuer.Logger.RateLimited(caller, endpoint);
        if (lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await WriteProblemAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests",
            $"The caller '{caller}' exceeded {_issuer.Options.RateLimitPermits} requests per {_issuer.Options.RateLimitWindow}; retry later.").ConfigureAwait(false);
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

    /// <summary>The rate-limit partition: the presented client certificate (by SHA-256 thumbprint), else the remote address.</summary>
    private static string CallerKey(HttpContext context)
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

    private (SpiffeId Id, byte[] Csr, TimeSpan Lifetime) ReadCommon(JsonElement request)
    {
        var idText = RequireString(request, "spiffeId", 2048);
        if (!SpiffeId.TryParse(idText, out var id, out var idError))
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid spiffeId", $"'spiffeId' is not a valid SPIFFE ID: {idError}.");
        }

        if (!id.IsMemberOf(_issuer.TrustDomain))
        {
            throw new Refusal(StatusCodes.Status403Forbidden, "Foreign trust domain", $"This issuer serves trust domain '{_issuer.TrustDomain}'; it cannot issue '{id}'.");
        }

        var csr = RequireBase64(request, "csr", 16 * 1024);
        var lifetime = _issuer.Options.MaxSvidLifetime;
        if (request.TryGetProperty("lifetimeSeconds", out var lifetimeElement))
        {
            var seconds = ReadPositiveInt(lifetimeElement, "lifetimeSeconds");
            lifetime = TimeSpan.FromSeconds(seconds) < lifetime ? TimeSpan.FromSeconds(seconds) : lifetime;
        }

        return (id, csr, lifetime);
    }

    private X509SvidIssuance Sign(X509SvidRequest request)
    {
        try
        {
            return _issuer.State.Signer.Issue(request);
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

    private static IssuedCertificateRecord Record(X509SvidIssuance issuance, SpiffeId id, string kind, DateTimeOffset now) => new(
        issuance.Certificate.SerialNumber, id.ToString(), kind,
        new DateTimeOffset(issuance.Certificate.NotBefore.ToUniversalTime()), new DateTimeOffset(issuance.Certificate.NotAfter.ToUniversalTime()), now, issuance.Certificate.RawData);

    private byte[] Done(X509SvidIssuance issuance, IssuedCertificateRecord record, string caller)
    {
        _issuer.Logger.SvidIssued(record.Kind, record.SpiffeId, record.SerialNumber, record.NotAfter);
        using (issuance.Certificate)
        {
            return Json(w =>
            {
                w.WriteString("spiffeId", record.SpiffeId);
                w.WriteStartArray("certificates");
                w.WriteBase64StringValue(issuance.Certificate.RawData);
                foreach (var intermediate in issuance.Intermediates)
                {
                    w.WriteBase64StringValue(intermediate.RawData);
                }

                w.WriteEndArray();
                w.WriteString("bundle", issuance.Bundle.ToJsonString());
                w.WriteString("expiresAt", record.NotAfter);
            });
        }
    }

    private static AgentPolicy ReadPolicy(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", "'policy' must be an object with 'services', 'actions', 'tools', 'delegationTargets' (string arrays) and 'maxDelegationDepth' (integer).");
        }

        try
        {
            var depth = element.TryGetProperty("maxDelegationDepth", out var d) ? ReadPositiveInt(d, "policy.maxDelegationDepth", allowZero: true) : 0;
            return new AgentPolicy(Strings(element, "services"), Strings(element, "actions"), Strings(element, "tools"), depth, Strings(element, "delegationTargets"));
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy' is invalid: {ex.Message}");
        }
    }

    private static List<string>? Strings(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy.{name}' must be an array of strings.");
        }

        var list = new List<string>();
        foreach (var item in array.EnumerateArray())
        {
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new Refusal(StatusCodes.Status400BadRequest, "Invalid policy", $"'policy.{name}' must contain only strings."));
        }

        return list;
    }

    private static string RequireString(JsonElement request, string name, int maxLength)
    {
        if (!request.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.String || element.GetString() is not { Length: > 0 } value)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, $"Missing {name}", $"'{name}' is required and must be a non-empty string.");
        }

        return value.Length <= maxLength ? value : throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is longer than {maxLength} characters.");
    }

    private static byte[] RequireBase64(JsonElement request, string name, int maxBytes)
    {
        var text = RequireString(request, name, (maxBytes * 4 / 3) + 4);
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is not valid base64.");
        }
    }

    private static int ReadPositiveInt(JsonElement element, string name, bool allowZero = false)
    {
        if (element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var value) && (value > 0 || (allowZero && value == 0)))
        {
            return value;
        }

        throw new Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' must be a {(allowZero ? "non-negative" : "positive")} 32-bit integer.");
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static async Task WriteProblemAsync(HttpContext context, int status, string title, string detail)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        var body = Json(w =>
        {
            w.WriteString("type", $"https://httpstatuses.io/{status}");
            w.WriteString("title", title);
            w.WriteNumber("status", status);
            w.WriteString("detail", detail);
        });
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private sealed class Refusal(int status, string title, string detail) : Exception(detail)
    {
        public int Status { get; } = status;

        public string Title { get; } = title;
    }
}
