using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AgentIdentity.Samples.Tests.TestInfrastructure;

/// <summary>How the fake model answers a conversation that has no tool results yet.</summary>
public enum FakeModelBehavior
{
    /// <summary>Asks for every tool offered (arguments made from the tool's JSON schema), then summarizes the tool results.</summary>
    CallEveryTool,

    /// <summary>Answers in text without calling any tool.</summary>
    AnswerWithoutTools,

    /// <summary>Answers 401 with an OpenAI-style error body that echoes the bearer token, as a careless server might.</summary>
    RejectKey,
}

/// <summary>
/// A tiny OpenAI-compatible chat-completions server on http://127.0.0.1 (port 0): enough of the wire format for the real
/// OpenAI .NET client, so that the Quickstart's real-model path runs over real HTTP without a network or a key.
/// </summary>
public sealed class FakeOpenAIServer : IAsyncDisposable
{
    private TestHost _host = null!;
    private int _callIds;

    private FakeOpenAIServer(FakeModelBehavior behavior) => Behavior = behavior;

    /// <summary>Gets the base URL to put in AGENTIDENTITY_MODEL_ENDPOINT.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public FakeModelBehavior Behavior { get; }

    /// <summary>Gets every request received: path, Authorization header and JSON body.</summary>
    public ConcurrentQueue<(string Path, string? Authorization, JsonObject Body)> Requests { get; } = new();

    public static async Task<FakeOpenAIServer> StartAsync(FakeModelBehavior behavior = FakeModelBehavior.CallEveryTool)
    {
        var app = TestHost.CreateBuilder(development: true).Build();
        var server = new FakeOpenAIServer(behavior);
        app.MapPost("/v1/chat/completions", (Func<HttpContext, Task<IResult>>)server.CompleteAsync);
        server._host = await TestHost.StartAsync(app);
        server.BaseAddress = new Uri($"http://127.0.0.1:{server._host.Port}/v1");
        return server;
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private async Task<IResult> CompleteAsync(HttpContext context)
    {
        var body = (JsonObject)(await JsonNode.ParseAsync(context.Request.Body))!;
        var authorization = context.Request.Headers.Authorization.ToString();
        Requests.Enqueue((context.Request.Path.Value!, authorization, body));
        var model = body["model"]?.GetValue<string>() ?? "unknown";

        if (Behavior == FakeModelBehavior.RejectKey)
        {
            var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization[7..] : authorization;
            return Results.Json(
                new JsonObject { ["error"] = new JsonObject { ["message"] = $"Incorrect API key provided: {token}.", ["type"] = "invalid_request_error", ["code"] = "invalid_api_key" } },
                statusCode: StatusCodes.Status401Unauthorized);
        }

        var messages = body["messages"]!.AsArray();
        var toolResults = messages.Where(m => m?["role"]?.GetValue<string>() == "tool").Select(m => Text(m!["content"])).ToList();
        var tools = body["tools"]?.AsArray() ?? [];
        JsonObject message;
        string finish;
        if (toolResults.Count > 0 || Behavior == FakeModelBehavior.AnswerWithoutTools || tools.Count == 0)
        {
            message = new JsonObject { ["role"] = "assistant", ["content"] = toolResults.Count > 0 ? "fake model read: " + string.Join(" | ", toolResults) : "I will not call any tool." };
            finish = "stop";
        }
        else
        {
            var calls = new JsonArray();
            foreach (var tool in tools)
            {
                var function = tool!["function"]!;
                calls.Add(new JsonObject
                {
                    ["id"] = $"call_fake{Interlocked.Increment(ref _callIds)}",
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = function["name"]!.GetValue<string>(), ["arguments"] = Arguments(function["parameters"]).ToJsonString() },
                });
            }

            message = new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = calls };
            finish = "tool_calls";
        }

        return Results.Json(new JsonObject
        {
            ["id"] = $"chatcmpl-{Requests.Count}",
            ["object"] = "chat.completion",
            ["created"] = 1_700_000_000,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
            ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = 5, ["total_tokens"] = 15 },
        });
    }

    /// <summary>Makes arguments from a JSON schema: 42 for every integer or number, "42" for every string.</summary>
    private static JsonObject Arguments(JsonNode? schema)
    {
        var arguments = new JsonObject();
        if (schema?["properties"] is JsonObject properties)
        {
            foreach (var (name, property) in properties)
            {
                arguments[name] = property?["type"]?.ToString() is "integer" or "number" ? 42 : "42";
            }
        }

        return arguments;
    }

    private static string Text(JsonNode? content) => content switch
    {
        JsonValue value => value.ToString(),
        JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.ToString())),
        _ => string.Empty,
    };
}
