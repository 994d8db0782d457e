using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace AgentIdentity.Samples.Tests.ConfiguredAgent;

/// <summary>docs/schemas/agent-policy.schema.json, the one JSON shape of a policy: the repository's policies (the sample's
/// appsettings.json and policy.json, the docs' examples) are valid, and broken policies are not.</summary>
public sealed class AgentPolicySchemaTests
{
    private static readonly string Root = typeof(AgentPolicySchemaTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    private static readonly JsonSchema Schema = JsonSchema.FromFile(Path.Combine(Root, "docs", "schemas", "agent-policy.schema.json"));

    public static TheoryData<string> RepositoryPolicies() => [.. Policies()];

    private static List<string> Policies()
    {
        var policies = PoliciesIn(Path.Combine(Root, "samples", "ConfiguredAgent", "appsettings.json"))
            .Append(JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "samples", "ConfiguredAgent", "policy.json")))!)
            .Concat(JsonBlocksOf(Path.Combine(Root, "docs", "configuration.md")).SelectMany(PoliciesIn));
        return policies.Select(p => p.ToJsonString()).ToList();
    }

    [Fact]
    public void RepositoryPolicies_AreFound()
    {
        // The sample's two agents, its policy.json, and the docs' appsettings example and policy.json example.
        Assert.True(Policies().Count >= 5, $"found {Policies().Count} policies");
    }

    [Theory]
    [MemberData(nameof(RepositoryPolicies))]
    public void RepositoryPolicy_IsValidAgainstTheSchema(string policy)
    {
        var result = Evaluate(policy);

        Assert.True(result.IsValid, $"{policy}: {Errors(result)}");
    }

    [Theory]
    [InlineData("""{ "tools": ["Erp..GetInvoice"] }""")]                          // an empty segment
    [InlineData("""{ "tools": ["Erp.Get*"] }""")]                                  // '*' is a whole segment only
    [InlineData("""{ "actions": ["invoices read"] }""")]                           // a space
    [InlineData("""{ "services": ["spiffe://configured.example"] }""")]            // an exact pattern without a path
    [InlineData("""{ "services": ["https://configured.example/svc/erp"] }""")]     // not a SPIFFE ID
    [InlineData("""{ "delegationTargets": ["spiffe://Configured.example/agent/*"] }""")] // an upper-case trust domain
    [InlineData("""{ "maxDelegationDepth": 9 }""")]                                // deeper than AgentPolicy.MaxDelegationDepthLimit
    [InlineData("""{ "maxDelegationDepth": -1 }""")]
    [InlineData("""{ "taskId": "t1" }""")]                                         // not configurable: DelegateAsync sets it
    [InlineData("""{ "Tools": ["Erp.*"] }""")]                                     // the shape is camelCase, as on the wire
    [InlineData("""{ "tools": "Erp.*" }""")]                                       // a list, not a string
    public void BadPolicy_IsRejectedByTheSchema(string policy)
    {
        Assert.False(Evaluate(policy).IsValid, policy);
    }

    [Fact]
    public void Schema_AgreesWithTheSdkOnTheRepositoryPolicies()
    {
        // Every repository policy the schema accepts is also accepted by the SDK's AgentPolicy (the schema is not looser there).
        foreach (var policy in Policies())
        {
            using var document = JsonDocument.Parse(policy);
            var root = document.RootElement;
            _ = new AgentPolicy(
                List(root, "services"), List(root, "actions"), List(root, "tools"),
                root.TryGetProperty("maxDelegationDepth", out var depth) ? depth.GetInt32() : 0,
                List(root, "delegationTargets"));
        }
    }

    private static List<string>? List(JsonElement root, string name) =>
        root.TryGetProperty(name, out var list) ? list.EnumerateArray().Select(e => e.GetString()!).ToList() : null;

    private static EvaluationResults Evaluate(string policy)
    {
        using var document = JsonDocument.Parse(policy);
        return Schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    private static string Errors(EvaluationResults result) =>
        string.Join("; ", (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));

    private static IEnumerable<JsonNode> PoliciesIn(string appsettingsPath) => PoliciesIn(JsonNode.Parse(File.ReadAllText(appsettingsPath))!);

    /// <summary>A policy document itself (it has none of the other keys), or every <c>Policy</c> object in an appsettings document.</summary>
    private static IEnumerable<JsonNode> PoliciesIn(JsonNode document)
    {
        if (document is JsonObject obj && obj.Count > 0 && obj.All(p => p.Key is "services" or "actions" or "tools" or "delegationTargets" or "maxDelegationDepth"))
        {
            yield return document;
            yield break;
        }

        foreach (var node in Walk(document))
        {
            if (node.Parent is JsonObject parent && parent.Any(p => p.Key == "Policy" && ReferenceEquals(p.Value, node)))
            {
                yield return node;
            }
        }
    }

    private static IEnumerable<JsonNode> Walk(JsonNode node)
    {
        yield return node;
        var children = node switch
        {
            JsonObject o => o.Select(p => p.Value),
            JsonArray a => a.AsEnumerable(),
            _ => [],
        };
        foreach (var child in children.OfType<JsonNode>())
        {
            foreach (var descendant in Walk(child))
            {
                yield return descendant;
            }
        }
    }

    /// <summary>The <c>```json</c> blocks of a Markdown file.</summary>
    private static IEnumerable<JsonNode> JsonBlocksOf(string markdownPath)
    {
        var lines = File.ReadAllLines(markdownPath);
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```json")
            {
                continue;
            }

            var end = Array.FindIndex(lines, i + 1, l => l.Trim() == "```");
            yield return JsonNode.Parse(string.Join('\n', lines[(i + 1)..end]))!;
            i = end;
        }
    }
}
