namespace AgentIdentity;

/// <summary>
/// The attribution headers an agent's <see cref="System.Net.Http.HttpClient"/> sends from its call context, and services read:
/// which agent, tool and tool call a request serves. Informational: the client certificate is what authenticates the caller.
/// Values that are not visible ASCII are percent-encoded by the sender (docs/http-client.md).
/// </summary>
internal static class AttributionHeaders
{
    /// <summary>The agent's SPIFFE ID.</summary>
    public const string AgentId = "X-Agent-Id";

    /// <summary>The tool being called, e.g. <c>Erp-GetInvoice</c>.</summary>
    public const string ToolName = "X-Agent-Tool";

    /// <summary>The model's id of the tool call.</summary>
    public const string ToolCallId = "X-Agent-Tool-Call-Id";

    /// <summary>The task the agent works on.</summary>
    public const string TaskId = "X-Agent-Task-Id";

    /// <summary>The conversation the call belongs to.</summary>
    public const string ConversationId = "X-Agent-Conversation-Id";
}
