using System.Diagnostics;
using System.Globalization;

namespace AgentIdentity;

/// <summary>
/// The spans of the core package, from one <see cref="ActivitySource"/> named <see cref="AgentIdentityMetrics.ActivitySourceName"/>
/// (docs/observability.md lists every span and attribute). Every helper does nothing when no listener samples the span.
/// </summary>
internal static class AgentIdentityTelemetry
{
    public const string IssueSpan = "agentidentity.svid.issue";
    public const string RenewSpan = "agentidentity.svid.renew";
    public const string RotatedEvent = "agentidentity.svid.rotated";
    public const string DelegateSpan = "agentidentity.delegate";
    public const string TokenAcquireSpan = "agentidentity.token.acquire";
    public const string TokenExchangeSpan = "agentidentity.token.exchange";
    public const string HttpSpan = "agentidentity.http.request";
    public const string RevocationSpan = "agentidentity.revocation.received";
    public const string KillSwitchSpan = "agentidentity.kill_switch";
    public const string ToolOperation = "execute_tool";

    public static readonly ActivitySource Source = new(AgentIdentityMetrics.ActivitySourceName, typeof(AgentIdentityTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Adds the agent's identity: SPIFFE ID, serial, SHA-256 thumbprint and, for a task identity, its delegation chain.</summary>
    public static void SetSvid(this Activity activity, X509Svid svid)
    {
        activity.SetTag(TelemetryTags.AgentId, svid.Id.ToString());
        activity.SetTag(TelemetryTags.SvidSerial, svid.SerialNumber);
        activity.SetTag(TelemetryTags.SvidThumbprint, svid.Thumbprint);
        if (svid.DelegationChain is { } chain)
        {
            activity.SetTag(TelemetryTags.DelegationChain, ChainIds(chain));
        }
    }

    /// <summary>The delegation chain as an attribute value: the SPIFFE IDs of the ancestors, root first.</summary>
    public static string[] ChainIds(DelegationChain chain)
    {
        var ids = new string[chain.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = chain[i].Id.ToString();
        }

        return ids;
    }

    /// <summary>Marks the span failed with the exception's type only: messages may carry data the span must not (arguments, server text).</summary>
    public static void SetFailure(this Activity activity, Exception exception)
    {
        var type = exception.GetType().FullName ?? exception.GetType().Name;
        activity.SetTag(TelemetryTags.ErrorType, type);
        activity.SetStatus(ActivityStatusCode.Error, type);
    }

    /// <summary>Tags the agent span that is current (an HTTP request or token request of this package) with the SVID a request is sent with.</summary>
    public static void TagPresentedSvid(X509Svid svid)
    {
        if (Activity.Current is { IsAllDataRequested: true } current && ReferenceEquals(current.Source, Source) &&
            current.OperationName is HttpSpan or TokenAcquireSpan or TokenExchangeSpan && current.GetTagItem(TelemetryTags.SvidSerial) is null)
        {
            current.SetSvid(svid);
        }
    }

    /// <summary>Adds what a revocation entry revokes: sequence, kind, subject (a serial number or a SPIFFE ID) and reason.</summary>
    public static void SetRevocation(this Activity activity, RevocationEntry entry)
    {
        activity.SetTag(TelemetryTags.RevocationSequence, entry.Sequence);
        activity.SetTag(TelemetryTags.RevocationKind, entry.Kind == RevocationKind.Serial ? "serial" : "identity");
        activity.SetTag(TelemetryTags.RevocationSubject, entry.Subject);
        activity.SetTag(TelemetryTags.RevocationReason, RevocationReasonNames.ToName(entry.Reason));
    }

    public static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}
