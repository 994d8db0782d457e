using Microsoft.Extensions.Logging;

namespace AgentIdentity.SemanticKernel;

/// <summary>Log messages of the Semantic Kernel package (event IDs 4000–4499). Argument values are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4000, EventName = "ToolCallDenied", Level = LogLevel.Warning,
        Message = "Tool call {Tool} ({ToolCallId}) of {AgentId} denied ({Denial}): {Reason}")]
    public static partial void ToolCallDenied(this ILogger logger, string tool, string toolCallId, string agentId, ToolCallDenialKindName denial, string reason);

    [LoggerMessage(EventId = 4001, EventName = "ToolCallKillSwitch", Level = LogLevel.Error,
        Message = "Kill switch: tool call {Tool} ({ToolCallId}) of {AgentId} refused ({Denial}): {Reason}")]
    public static partial void ToolCallKillSwitch(this ILogger logger, string tool, string toolCallId, string agentId, ToolCallDenialKindName denial, string reason);

    [LoggerMessage(EventId = 4002, EventName = "ToolCallCompleted", Level = LogLevel.Debug,
        Message = "Tool call {Tool} ({ToolCallId}) of {AgentId} ran.")]
    public static partial void ToolCallCompleted(this ILogger logger, string tool, string toolCallId, string agentId);

    [LoggerMessage(EventId = 4003, EventName = "ChatTerminatedByKillSwitch", Level = LogLevel.Warning,
        Message = "The function-calling loop of {AgentId} was terminated by the kill switch after tool call {Tool} ({ToolCallId}).")]
    public static partial void ChatTerminated(this ILogger logger, string agentId, string tool, string toolCallId);
}

/// <summary>Wraps the denial kind so that the logging source generator formats it by name.</summary>
internal readonly record struct ToolCallDenialKindName(AgentIdentity.Tools.ToolCallDenialKind Kind)
{
    public override string ToString() => Kind.ToString();
}
