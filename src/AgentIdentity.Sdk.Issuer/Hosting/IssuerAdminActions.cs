namespace AgentIdentity.Issuer;

/// <summary>The actions an operator's certificate policy must grant (the <see cref="AgentPolicy.Actions"/> axis) to administer
/// the issuer over mTLS. <c>agentidentity:*</c> grants them all.</summary>
public static class IssuerAdminActions
{
    /// <summary><c>POST v1/revoke</c>: revoke a certificate or an identity.</summary>
    public const string Revoke = "agentidentity:revoke";

    /// <summary><c>POST v1/join-tokens</c>: create join tokens.</summary>
    public const string JoinToken = "agentidentity:join-token";

    /// <summary><c>GET v1/status</c>: read what the issuer knows of an identity.</summary>
    public const string Status = "agentidentity:status";
}
