using AgentIdentity.Tools;
using Microsoft.Extensions.Logging;

namespace AgentIdentity.AI;

/// <summary>Log messages of the Microsoft.Extensions.AI package (event IDs 4500–4999). Argument values are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4500, EventName = "FunctionCallDenied", Level = LogLevel.Warning,
        Message = "Function call {Tool} ({ToolCallId}) of {AgentId} denied ({Denial}): {Reason}")]
    public static partial void FunctionCallDenied(this ILogger logger, string tool, string toolCallId, string agentId, ToolCallDenialKind denial, string reason);

    [LoggerMessage(EventId = 4501, EventName = "FunctionCallKillSwitch", Level = LogLevel.Error,
        Message = "Kill switch: function call {Tool} ({ToolCallId}) of {AgentId} refused ({Denial}): {Reason}")]
    public static partial void FunctionCallKillSwitch(this ILogger logger, string tool, string toolCallId, string agentId, ToolCallDenialKind denial, string reason);

    [LoggerMessage(EventId = 4502, EventName = "FunctionCallCompleted", Level = LogLevel.Debug,
        Message = "Function call {Tool} ({ToolCallId}) of {AgentId} ran.")]
    public static partial void FunctionCallCompleted(this ILogger logger, string tool, string toolCallId, string agentId);
}
