using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AgentIdentity.Issuer;

/// <summary>The administration endpoints, authorized by the operator's identity (<see cref="AdminAuthorization"/>):
/// <c>POST v1/revoke</c> and <c>GET v1/status</c>. (<c>POST v1/join-tokens</c> lives in <see cref="IssuerEndpoints"/>.)</summary>
internal sealed class AdminEndpoints
{
    /// <summary>The most certificates and descendants a status answer lists.</summary>
    internal const int MaxListed = 100;

    private readonly AgentIdentityIssuer _issuer;
    private readonly IssuerEndpoints _endpoints;
    private readonly AdminAuthorization _authorization;
    private readonly IServiceProvider _services;

    public AdminEndpoints(AgentIdentityIssuer issuer, IssuerEndpoints endpoints, AdminAuthorization authorization, IServiceProvider services)
    {
        _issuer = issuer;
        _endpoints = endpoints;
        _authorization = authorization;
        _services = services;
    }

    public Task RevokeAsync(HttpContext context) => _endpoints.HandleAsync(context, "revoke", async (body, _) =>
    {
        var caller = await _authorization.AuthorizeAsync(context, "revoke", IssuerAdminActions.Revoke, allowBootstrapKey: false).ConfigureAwait(false);
        var request = IssuerEndpoints.Bind(body, IssuerJsonContext.Default.IssuerRevokeRequest);
        var registry = Registry();
        var reason = X509RevocationReason.Unspecified;
        if (request.Reason is { Length: > 0 } reasonName && !RevocationReasonNames.TryParse(reasonName, out reason, out var reasonError))
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, "Invalid reason", $"'{IssuerProtocol.Reason}': {reasonError}");
        }

        if ((request.SpiffeId is { Length: > 0 }) == (request.SerialNumber is { Length: > 0 }))
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, "Serial number or SPIFFE ID required",
                $"Send exactly one of '{IssuerProtocol.SerialNumber}' (revokes one certificate) and '{IssuerProtocol.SpiffeId}' (revokes the identity, its certificates and its task identities).");
        }

        RevocationEntry entry;
        bool known;
        if (request.SerialNumber is { Length: > 0 } serialText)
        {
            var serial = IssuerEndpoints.RequireString(serialText, IssuerProtocol.SerialNumber, 128);
            string normalized;
            try
            {
                normalized = RevocationEntry.NormalizeSerialNumber(serial);
            }
            catch (FormatException ex)
            {
                throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, "Invalid serialNumber", $"'{IssuerProtocol.SerialNumber}': {ex.Message}");
            }

            var record = await _issuer.Store.FindCertificateAsync(serial.ToUpperInvariant(), context.RequestAborted).ConfigureAwait(false)
                ?? await _issuer.Store.FindCertificateAsync(normalized, context.RequestAborted).ConfigureAwait(false);
            if (record is null)
            {
                throw new IssuerEndpoints.Refusal(StatusCodes.Status404NotFound, "Unknown serial number",
                    $"This issuer has not issued a certificate with serial number {normalized}; check the serial (agentid inspect <cert.pem> prints it), or revoke the identity by its SPIFFE ID.");
            }

            known = true;
            entry = await registry.RevokeCertificateAsync(normalized, reason, context.RequestAborted).ConfigureAwait(false);
        }
        else
        {
            var id = ParseId(request.SpiffeId!, IssuerProtocol.SpiffeId);
            known = await _issuer.Store.FindIdentityAsync(id.ToString(), context.RequestAborted).ConfigureAwait(false) is not null;
            entry = await registry.RevokeIdentityAsync(id, reason, context.RequestAborted).ConfigureAwait(false);
        }

        _issuer.Logger.AdminRevoked(caller.ToString(), Kind(entry), entry.Subject, RevocationReasonNames.ToName(entry.Reason), entry.Sequence);
        _authorization.Audit.Revoked(context, entry, known);
        return JsonSerializer.SerializeToUtf8Bytes(Describe(entry) with { Known = known }, IssuerJsonContext.Default.IssuerRevokeResponse);
    });

    public async Task StatusAsync(HttpContext context)
    {
        const string endpoint = "status";
        var callerKey = IssuerEndpoints.CallerKey(context);
        if (!await _endpoints.AcquireAsync(context, callerKey, endpoint).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            if (!context.Request.IsHttps)
            {
                throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, "HTTPS required", "The issuer answers only over HTTPS.");
            }

            await _authorization.AuthorizeAsync(context, endpoint, IssuerAdminActions.Status, allowBootstrapKey: false).ConfigureAwait(false);
            var text = context.Request.Query[IssuerProtocol.StatusIdQuery].ToString();
            var id = ParseId(IssuerEndpoints.RequireString(text, IssuerProtocol.StatusIdQuery, 2048), IssuerProtocol.StatusIdQuery);
            var response = await BuildStatusAsync(id, context.RequestAborted).ConfigureAwait(false);
            context.Response.ContentType = IssuerProtocol.JsonMediaType;
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(response, IssuerJsonContext.Default.IssuerStatusResponse), context.RequestAborted).ConfigureAwait(false);
        }
        catch (IssuerEndpoints.Refusal refusal)
        {
            _issuer.Logger.RequestRefused(endpoint, callerKey, refusal.Status, refusal.Message);
            _authorization.Audit.Refused(context, endpoint, refusal.Status, refusal.Title, refusal.Message);
            await IssuerEndpoints.WriteProblemAsync(context, refusal.Status, refusal.Title, refusal.Message).ConfigureAwait(false);
        }
        catch (IssuerStoreUnavailableException ex)
        {
            _issuer.Logger.StoreUnavailable(endpoint, ex);
            await IssuerEndpoints.WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, "Issuer store unavailable",
                "The issuer's database is unavailable. Retry later.").ConfigureAwait(false);
        }
    }

    private async Task<IssuerStatusResponse> BuildStatusAsync(SpiffeId id, CancellationToken cancellationToken)
    {
        var registry = _services.GetService<IRevocationRegistry>();
        var identity = await _issuer.Store.FindIdentityAsync(id.ToString(), cancellationToken).ConfigureAwait(false);
        var revocation = registry is null ? null : await registry.GetIdentityRevocationAsync(id, cancellationToken).ConfigureAwait(false);
        var response = new IssuerStatusResponse
        {
            SpiffeId = id.ToString(),
            Enrolled = identity is not null,
            EnrolledAt = identity?.EnrolledAt,
            ParentId = identity?.ParentId,
            Revocation = revocation is null ? null : Describe(revocation),
        };

        if (_issuer.Store is not IIssuerAdminQueries queries)
        {
            return response;
        }

        var now = _issuer.Time.GetUtcNow();
        var certificates = new List<IssuerStatusCertificate>();
        string? current = null;
        foreach (var record in await queries.ListCertificatesAsync(id.ToString(), MaxListed, cancellationToken).ConfigureAwait(false))
        {
            var revoked = revocation is not null
                || (registry is not null && await registry.GetCertificateRevocationAsync(record.SerialNumber, cancellationToken).ConfigureAwait(false) is not null);
            string state;
            if (revoked)
            {
                state = "revoked";
            }
            else if (record.NotAfter <= now)
            {
                state = "expired";
            }
            else if (current is null)
            {
                state = "current";
                current = record.SerialNumber;
            }
            else
            {
                state = "valid";
            }

            certificates.Add(new IssuerStatusCertificate
            {
                SerialNumber = record.SerialNumber,
                Kind = record.Kind,
                NotBefore = record.NotBefore,
                NotAfter = record.NotAfter,
                IssuedAt = record.IssuedAt,
                State = state,
            });
        }

        var descendants = new List<IssuerStatusDescendant>();
        foreach (var descendant in await queries.ListDescendantsAsync(id.ToString(), MaxListed, cancellationToken).ConfigureAwait(false))
        {
            var covered = revocation is not null
                || (registry is not null && SpiffeId.TryParse(descendant.SpiffeId, out var descendantId)
                    && await registry.GetIdentityRevocationAsync(descendantId, cancellationToken).ConfigureAwait(false) is not null);
            descendants.Add(new IssuerStatusDescendant { SpiffeId = descendant.SpiffeId, ParentId = descendant.ParentId, Revoked = covered });
        }

        return response with
        {
            CertificatesRecorded = true,
            CertificateCount = await queries.CountCertificatesAsync(id.ToString(), cancellationToken).ConfigureAwait(false),
            Current = current,
            Certificates = certificates,
            Descendants = descendants,
        };
    }

    private IRevocationRegistry Registry() => _services.GetService<IRevocationRegistry>()
        ?? throw new IssuerEndpoints.Refusal(StatusCodes.Status501NotImplemented, "Revocation not configured",
            "This issuer has no revocation registry (IRevocationRegistry) registered, so it cannot revoke; register one in DI.");

    private SpiffeId ParseId(string text, string name)
    {
        if (!SpiffeId.TryParse(text, out var id, out var error))
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}", $"'{name}' is not a valid SPIFFE ID: {error}.");
        }

        if (!id.IsMemberOf(_issuer.TrustDomain))
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status403Forbidden, "Foreign trust domain",
                $"'{id}' is of trust domain '{id.TrustDomain}'; this issuer administers '{_issuer.TrustDomain}' only.");
        }

        if (id.IsTrustDomainId)
        {
            throw new IssuerEndpoints.Refusal(StatusCodes.Status400BadRequest, $"Invalid {name}",
                $"'{id}' is the whole trust domain; it cannot be revoked with an entry. In an emergency, rotate the CA instead.");
        }

        return id;
    }

    private static string Kind(RevocationEntry entry) => entry.Kind == RevocationKind.Serial ? "serial" : "identity";

    private static IssuerRevokeResponse Describe(RevocationEntry entry) => new()
    {
        Sequence = entry.Sequence,
        Kind = Kind(entry),
        SpiffeId = entry.Kind == RevocationKind.Identity ? entry.Id.ToString() : null,
        SerialNumber = entry.SerialNumber,
        Reason = RevocationReasonNames.ToName(entry.Reason),
        RevokedAt = entry.RevokedAt,
        Known = true,
    };
}

/// <summary>Read-only queries for <c>v1/status</c> that the built-in SQL stores answer; a custom store may implement them too.</summary>
internal interface IIssuerAdminQueries
{
    /// <summary>Lists the certificates issued for exactly <paramref name="spiffeId"/>, newest first.</summary>
    Task<IReadOnlyList<IssuedCertificateRecord>> ListCertificatesAsync(string spiffeId, int maxCount, CancellationToken cancellationToken);

    /// <summary>Counts the certificates issued for exactly <paramref name="spiffeId"/>.</summary>
    Task<long> CountCertificatesAsync(string spiffeId, CancellationToken cancellationToken);

    /// <summary>Lists the enrolled identities strictly below <paramref name="spiffeId"/> (task identities), by ID.</summary>
    Task<IReadOnlyList<IdentityRecord>> ListDescendantsAsync(string spiffeId, int maxCount, CancellationToken cancellationToken);
}
