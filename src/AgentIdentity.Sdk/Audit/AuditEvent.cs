using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace AgentIdentity.Audit;

/// <summary>What an audit event records.</summary>
public enum AuditEventKind
{
    /// <summary>An agent called a tool (function).</summary>
    ToolCall = 0,

    /// <summary>An agent sent a request to a service.</summary>
    OutboundRequest,

    /// <summary>A service received a request from an agent (the service-side record).</summary>
    InboundRequest,

    /// <summary>An SVID was issued.</summary>
    Issuance,

    /// <summary>An SVID or identity was revoked.</summary>
    Revocation,

    /// <summary>A policy check refused an action.</summary>
    PolicyDenial,

    /// <summary>An administration request to the issuer (revoke, join token, status) was authorized or refused, or created a join token.</summary>
    Administration,
}

/// <summary>How the recorded action ended.</summary>
public enum AuditOutcome
{
    /// <summary>The action completed.</summary>
    Success = 0,

    /// <summary>The action was attempted and failed.</summary>
    Failure,

    /// <summary>The action was refused before it ran (policy, revocation, kill switch).</summary>
    Denied,
}

/// <summary>One argument of a recorded action: its hash, and its raw value only when the application opted in.</summary>
/// <param name="Name">The argument name.</param>
/// <param name="Sha256">The lowercase hex hash of the argument's UTF-8 text (for structured values, their JSON): HMAC-SHA256 under
/// the log's <see cref="AuditArgumentKey"/> when <see cref="IsKeyed"/> (recorded as <c>hmac-sha256</c>), else plain SHA-256
/// (recorded as <c>sha256</c>; reversible by enumeration for guessable values such as PINs).</param>
/// <param name="Value">The raw value; <see langword="null"/> unless raw arguments are recorded.</param>
public sealed record AuditArgument(string Name, string Sha256, string? Value = null)
{
    /// <summary>Gets a value indicating whether <see cref="Sha256"/> is an HMAC-SHA256 under an <see cref="AuditArgumentKey"/>.</summary>
    public bool IsKeyed { get; init; }

    /// <summary>Creates an argument record whose hash is keyed: HMAC-SHA256 under <paramref name="key"/>.</summary>
    /// <param name="name">The argument name.</param>
    /// <param name="value">The argument's text (for structured values, their JSON serialization).</param>
    /// <param name="key">The log's argument key.</param>
    /// <param name="includeValue">Whether to keep the raw value as well as its hash.</param>
    /// <returns>The argument record.</returns>
    public static AuditArgument Create(string name, string? value, AuditArgumentKey key, bool includeValue = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(key);
        return new AuditArgument(name, key.Hash(value), includeValue ? value : null) { IsKeyed = true };
    }

    /// <summary>Creates an argument record from its value, hashed with plain (unkeyed) SHA-256. Prefer the keyed overload: an unkeyed hash of a guessable value (a PIN, an account number) is reversed by enumeration.</summary>
    public static AuditArgument Create(string name, string? value, bool includeValue = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        value ??= string.Empty;
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var length = Encoding.UTF8.GetBytes(value, rented);
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(rented.AsSpan(0, length), hash);
            return new AuditArgument(name, Convert.ToHexStringLower(hash), includeValue ? value : null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}

/// <summary>
/// One audit record: who acted (SPIFFE ID, certificate serial, delegation chain), what they did (kind, tool, action, target
/// service, request id), how it ended, when, and hashes of the arguments. Its RFC 8785 canonical JSON is a leaf of the audit
/// log's Merkle tree; the schema is in <c>docs/audit-events.md</c>.
/// </summary>
/// <remarks>Immutable once created; thread-safe.</remarks>
public sealed class AuditEvent
{
    /// <summary>The version of the event schema written in the <c>v</c> member.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Gets what the event records.</summary>
    public required AuditEventKind Kind { get; init; }

    /// <summary>Gets when the action happened, from the application's <see cref="TimeProvider"/>.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>Gets the SPIFFE ID of the agent (or service) that acted.</summary>
    public required SpiffeId Agent { get; init; }

    /// <summary>Gets the serial number (uppercase hex) of the certificate the actor held.</summary>
    public string? SerialNumber { get; init; }

    /// <summary>Gets the delegation chain: the identities that delegated to <see cref="Agent"/>, outermost first, the agent itself excluded.</summary>
    public IReadOnlyList<SpiffeId> DelegationChain { get; init; } = [];

    /// <summary>Gets the tool (function) name, for tool calls, e.g. <c>Erp.GetInvoice</c>.</summary>
    public string? Tool { get; init; }

    /// <summary>Gets the action, e.g. <c>invoices:read</c> or <c>GET /invoices/42</c>.</summary>
    public string? Action { get; init; }

    /// <summary>Gets the target service (its SPIFFE ID or URI).</summary>
    public string? TargetService { get; init; }

    /// <summary>Gets the request or tool-call id that correlates this event with traces and the peer's record.</summary>
    public string? RequestId { get; init; }

    /// <summary>Gets how the action ended.</summary>
    public AuditOutcome Outcome { get; init; }

    /// <summary>Gets why the action failed or was denied, or other detail.</summary>
    public string? Reason { get; init; }

    /// <summary>Gets the argument hashes (and raw values only when opted in). Names must be unique.</summary>
    public IReadOnlyList<AuditArgument> Arguments { get; init; } = [];

    /// <summary>Gets extra string attributes (for example an HTTP status code or a trace id).</summary>
    public IReadOnlyDictionary<string, string>? Attributes { get; init; }

    /// <summary>Serializes the event as RFC 8785 canonical JSON: the exact bytes of its Merkle leaf.</summary>
    /// <returns>The canonical UTF-8 JSON.</returns>
    /// <exception cref="ArgumentException">Duplicate argument names, or strings that are not valid Unicode.</exception>
    /// <exception cref="InvalidOperationException">The event has no agent.</exception>
    public byte[] ToCanonicalJson()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        WriteCanonicalJson(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Gets the canonical JSON as a string.</summary>
    /// <returns>The canonical JSON text.</returns>
    public override string ToString() => Encoding.UTF8.GetString(ToCanonicalJson());

    /// <summary>Writes the canonical JSON to <paramref name="output"/>. Members are written in RFC 8785 order; the writer enforces it.</summary>
    /// <summary>Writes the event's RFC 8785 canonical JSON (the audit leaf) to <paramref name="output"/>, without an intermediate array.</summary>
    /// <param name="output">Where the UTF-8 bytes go.</param>
    public void WriteCanonicalJson(IBufferWriter<byte> output)
    {
        if (Agent.IsEmpty)
        {
            throw new InvalidOperationException("An audit event needs the SPIFFE ID of the agent that acted (Agent is empty).");
        }

        var w = new CanonicalJsonWriter(output);
        w.WriteStartObject();
        WriteOptional(w, "action", Action);
        w.WritePropertyName("agent");
        w.WriteStringValue(Agent.ToString());
        if (Arguments.Count > 0)
        {
            w.WritePropertyName("arguments");
            w.WriteStartObject();
            var sorted = Arguments.Count == 1 ? Arguments : [.. Arguments.OrderBy(a => a.Name, StringComparer.Ordinal)];
            foreach (var argument in sorted)
            {
                w.WritePropertyName(argument.Name); // Duplicate names are rejected here.
                w.WriteStartObject();
                w.WritePropertyName(argument.IsKeyed ? "hmac-sha256" : "sha256");
                w.WriteStringValue(argument.Sha256);
                WriteOptional(w, "value", argument.Value);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        if (Attributes is { Count: > 0 })
        {
            w.WritePropertyName("attributes");
            w.WriteStartObject();
            foreach (var (key, value) in Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                w.WritePropertyName(key);
                w.WriteStringValue(value ?? string.Empty);
            }

            w.WriteEndObject();
        }

        if (DelegationChain.Count > 0)
        {
            w.WritePropertyName("chain");
            w.WriteStartArray();
            foreach (var id in DelegationChain)
            {
                w.WriteStringValue(id.ToString());
            }

            w.WriteEndArray();
        }

        w.WritePropertyName("kind");
        w.WriteStringValue(KindName(Kind));
        w.WritePropertyName("outcome");
        w.WriteStringValue(OutcomeName(Outcome));
        WriteOptional(w, "reason", Reason);
        WriteOptional(w, "request_id", RequestId);
        WriteOptional(w, "serial", SerialNumber);
        WriteOptional(w, "target", TargetService);
        w.WritePropertyName("time");
        w.WriteStringValue(AuditTime.Format(Timestamp));
        WriteOptional(w, "tool", Tool);
        w.WritePropertyName("v");
        w.WriteNumberValue(SchemaVersion);
        w.WriteEndObject();
    }

    /// <summary>Gets the schema name of an event kind, as written in the <c>kind</c> member.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>For example <c>tool_call</c>.</returns>
    public static string KindName(AuditEventKind kind) => kind switch
    {
        AuditEventKind.ToolCall => "tool_call",
        AuditEventKind.OutboundRequest => "outbound_request",
        AuditEventKind.InboundRequest => "inbound_request",
        AuditEventKind.Issuance => "issuance",
        AuditEventKind.Revocation => "revocation",
        AuditEventKind.PolicyDenial => "policy_denial",
        AuditEventKind.Administration => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown audit event kind."),
    };

    /// <summary>Gets the schema name of an outcome, as written in the <c>outcome</c> member.</summary>
    /// <param name="outcome">The outcome.</param>
    /// <returns>For example <c>success</c>.</returns>
    public static string OutcomeName(AuditOutcome outcome) => outcome switch
    {
        AuditOutcome.Success => "success",
        AuditOutcome.Failure => "failure",
        AuditOutcome.Denied => "denied",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown audit outcome."),
    };

    private static void WriteOptional(CanonicalJsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WritePropertyName(name);
            w.WriteStringValue(value);
        }
    }
}
