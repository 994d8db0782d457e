using System.Text.RegularExpressions;

namespace AgentIdentity.Docs.Tests;

/// <summary>Every ```csharp block of README.md and docs/*.md compiles as written and runs: a docs change that breaks one fails here.</summary>
public sealed class SnippetTests
{
    /// <summary>What a snippet must print when it runs (a multi-line regular expression over its console output).</summary>
    private static readonly Dictionary<string, string> ExpectedOutput = new(StringComparer.Ordinal)
    {
        ["first-program"] = @"^spiffe://corp\.example/agent/planner/[a-z0-9]+\r?$",
        ["quickstart-semantic-kernel"] = @"^\d{4}-\d\d-\d\dT[\s\S]*^Tool call denied by AgentIdentity policy: agent 'spiffe://corp\.example/agent/researcher/[a-z0-9]+' may not call tool 'Files\.Delete'",
        ["quickstart-mtls"] = @"^you are spiffe://corp\.example/agent/planner/[a-z0-9]+\r?$",
        ["semantic-kernel-1"] = @"^invoice 42: 120\.00 EUR\r?$",
        ["semantic-kernel-several-agents"] = @"^invoice 42: 120\.00 EUR\r?$[\s\S]*^Tool call denied by AgentIdentity policy: agent 'spiffe://corp\.example/agent/researcher/",
        ["delegation-1"] = @"^spiffe://corp\.example/agent/planner/[a-z0-9]+/task/invoice-42\r?$",
        ["identity-1"] = @"^spiffe://corp\.example/agent/planner/[a-z0-9]+\r?$",
        ["quickstart-several-agents"] = @"^spiffe://corp\.example/agent/researcher/[a-z0-9]+\r?$[\s\S]*^spiffe://corp\.example/agent/worker/[a-z0-9]+\r?$",
    };

    /// <summary>Snippets that are compiled but not run, each with the reason (a peer the tests cannot provide).</summary>
    private static readonly Dictionary<string, string> CompileOnly = new(StringComparer.Ordinal)
    {
        ["aspnetcore-2"] = "declarations only: a type, no statements",
        ["http-client-3"] = "declarations only: a type, no statements",
        ["http-client-4"] = "needs an OpenIddict application store (tests/AgentIdentity.Sdk.IntegrationTests SelfSignedBoundTokenTests does this)",
        ["issuer-1"] = "listens on port 8443, needs AGENTIDENTITY_ISSUER_KEK and /var/lib/orchestrator (IssuerHost in the issuer tests runs the same calls)",
        ["issuer-4"] = "needs a running issuer with its store",
        ["delegation-3"] = "needs an authorization server and the ERP at *.corp.example (the integration tests' token-exchange tests do this)",
        ["semantic-kernel-2"] = "needs an MCP server at mcp.corp.example (McpToolsTests runs the same calls against a real one)",
        ["spiffe-2"] = "needs a SPIFFE Workload API socket (SPIRE agent)",
        ["spiffe-3"] = "needs a SPIFFE Workload API socket (SPIRE agent)",
        ["spiffe-4"] = "binds /run/agents/tools/agent.sock (the Spiffe tests run the server on a temporary socket)",
    };

    public static TheoryData<string> CSharpSnippets { get; } = [.. DocSnippet.All.Where(s => s.Language == "csharp" && s.Name is not null).Select(s => s.Name!)];

    [Theory]
    [MemberData(nameof(CSharpSnippets))]
    public async Task Snippet_CompilesAndRunsAsWritten(string name)
    {
        var snippet = DocSnippet.All.Single(s => s.Name == name);
        await SnippetContext.ResetAsync();

        var program = SnippetCompiler.Compile(snippet);
        if (CompileOnly.ContainsKey(name))
        {
            return;
        }

        var output = await SnippetCompiler.RunAsync(program);
        if (ExpectedOutput.TryGetValue(name, out var expected))
        {
            Assert.True(Regex.IsMatch(output, expected, RegexOptions.Multiline), $"{snippet} printed, not matching {expected}:\n{output}");
        }
    }

    [Fact]
    public void EveryCSharpBlock_HasItsOwnSnippetName()
    {
        var csharp = DocSnippet.All.Where(s => s.Language == "csharp").ToList();

        Assert.Empty(csharp.Where(s => s.Name is null).Select(s => $"{s.File}:{s.Line}: put <!-- snippet: NAME --> on the line before the fence"));
        Assert.Empty(csharp.GroupBy(s => s.Name).Where(g => g.Count() > 1).Select(g => $"snippet name '{g.Key}' is used twice"));
        Assert.True(csharp.Count >= 30, $"only {csharp.Count} C# blocks found under {DocSnippet.RepositoryRoot}");
    }

    [Fact]
    public void ExpectationsAndCompileOnlyEntries_NameSnippetsThatExist()
    {
        var names = DocSnippet.All.Select(s => s.Name).ToHashSet();

        var unknown = ExpectedOutput.Keys.Concat(CompileOnly.Keys).Where(n => !names.Contains(n)).ToList();

        Assert.True(unknown.Count == 0, $"no snippet named {string.Join(", ", unknown)}");
    }

    [Fact]
    public void FirstProgram_CsprojIsCompleteAndPinsWhatTheRepositoryUses()
    {
        var csproj = DocSnippet.All.Single(s => s.Name == "first-program-csproj");
        var props = File.ReadAllText(Path.Combine(DocSnippet.RepositoryRoot, "Directory.Packages.props"));
        var extensions = Regex.Match(props, "<MicrosoftExtensionsVersion>(?<v>[^<]+)<").Groups["v"].Value;

        Assert.Equal("xml", csproj.Language);
        Assert.Equal("csharp", DocSnippet.All.Single(s => s.Name == "first-program").Language);
        Assert.Contains("<TargetFramework>net10.0</TargetFramework>", csproj.Code, StringComparison.Ordinal);
        Assert.Contains("<PackageReference Include=\"AgentIdentity.Sdk\" Version=\"0.1.0\" />", csproj.Code, StringComparison.Ordinal);
        Assert.Contains($"<PackageReference Include=\"Microsoft.Extensions.Hosting\" Version=\"{extensions}\" />", csproj.Code, StringComparison.Ordinal);
        Assert.Contains($"dotnet add package Microsoft.Extensions.Hosting --version {extensions}", File.ReadAllText(Path.Combine(DocSnippet.RepositoryRoot, "README.md")), StringComparison.Ordinal);
    }
}
