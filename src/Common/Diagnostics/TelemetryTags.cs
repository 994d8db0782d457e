namespace AgentIdentity;

/// <summary>
/// The names of the span and metric attributes the SDK's packages emit (docs/observability.md): OpenTelemetry semantic-convention
/// names where one exists (<c>gen_ai.*</c>, <c>error.type</c>, <c>http.*</c>, <c>server.*</c>), the project namespace
/// <c>agentidentity.*</c> for the rest. Never a key, a token or an argument value.
/// </summary>
internal static class TelemetryTags
{
    // Identity of the agent (or caller) the span is about.
    public const string AgentId = "agentidentity.agent.id";
    public const string AgentName = "agentidentity.agent.name";
    public const string SvidSerial = "agentidentity.svid.serial";
    public const string SvidThumbprint = "agentidentity.svid.thumbprint";
    public const string SvidNotAfter = "agentidentity.svid.not_after";
    public const string SvidPreviousSerial = "agentidentity.svid.previous_serial";
    public const string DelegationChain = "agentidentity.delegation.chain";
    public const string TaskId = "agentidentity.task.id";

    // Issuance.
    public const string IssuanceMethod = "agentidentity.issuance.method";

    // Tool calls (OpenTelemetry GenAI semantic conventions, execute_tool span).
    public const string GenAiOperationName = "gen_ai.operation.name";
    public const string GenAiToolName = "gen_ai.tool.name";
    public const string GenAiToolCallId = "gen_ai.tool.call.id";
    public const string GenAiToolType = "gen_ai.tool.type";
    public const string GenAiConversationId = "gen_ai.conversation.id";
    public const string ToolAction = "agentidentity.tool.action";
    public const string ToolOutcome = "agentidentity.tool.outcome";
    public const string PolicyDecision = "agentidentity.policy.decision";
    public const string DenialKind = "agentidentity.denial.kind";
    public const string DenialReason = "agentidentity.denial.reason";

    // HTTP and tokens.
    public const string HttpClientName = "agentidentity.http_client.name";
    public const string TokenGrantType = "agentidentity.token.grant_type";
    public const string TokenBound = "agentidentity.token.bound";
    public const string HttpRequestMethod = "http.request.method";
    public const string HttpResponseStatusCode = "http.response.status_code";
    public const string ServerAddress = "server.address";
    public const string ServerPort = "server.port";
    public const string ErrorType = "error.type";

    // Revocation.
    public const string RevocationSequence = "agentidentity.revocation.sequence";
    public const string RevocationKind = "agentidentity.revocation.kind";
    public const string RevocationSubject = "agentidentity.revocation.subject";
    public const string RevocationReason = "agentidentity.revocation.reason";
    public const string RevocationResult = "agentidentity.revocation.result";

    // Service side.
    public const string AuthenticationResult = "agentidentity.authentication.result";
    public const string AuthenticationFailure = "agentidentity.authentication.failure";
    public const string CallerToolName = "agentidentity.caller.tool.name";
    public const string CallerToolCallId = "agentidentity.caller.tool.call_id";

    // Audit.
    public const string AuditKind = "agentidentity.audit.kind";
    public const string AuditOutcome = "agentidentity.audit.outcome";
    public const string AuditTool = "agentidentity.audit.tool";
    public const string AuditTarget = "agentidentity.audit.target";
    public const string AuditTreeSizeBucket = "agentidentity.audit.tree_size_bucket";
}
