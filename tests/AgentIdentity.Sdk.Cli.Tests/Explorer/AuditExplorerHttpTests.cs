using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using AgentIdentity.Audit;
using AgentIdentity.Cli.Explorer;
using Microsoft.AspNetCore.Builder;

namespace AgentIdentity.Cli.Tests.Explorer;

/// <summary>The explorer's HTTP surface, read as an attacker would: read-only, host-checked, strict CSP, and the JSON the page trusts.</summary>
public sealed class AuditExplorerHttpTests(ExplorerLogs logs) : IClassFixture<ExplorerLogs>, IAsyncLifetime, IDisposable
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _app = AuditExplorer.Create(new AuditExplorerOptions(logs.Root, logs.Bundle, IPAddress.Loopback, 0));
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = AuditExplorer.ListeningUri(_app) };
    }

    [Fact]
    public async Task EveryResponse_CarriesAStrictContentSecurityPolicy()
    {
        foreach (var path in new[] { "/", "/app.js", "/app.css", "/api/logs", "/api/nothing-here" })
        {
            using var response = await _http.GetAsync(path);
            Assert.Equal(AuditExplorer.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        Assert.DoesNotContain("unsafe", AuditExplorer.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", AuditExplorer.ContentSecurityPolicy, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", AuditExplorer.ContentSecurityPolicy, StringComparison.Ordinal);
        var page = await _http.GetStringAsync("/");
        Assert.Contains("<script src=\"app.js\" defer></script>", page, StringComparison.Ordinal);
        Assert.DoesNotContain("http", page.Replace("http-equiv", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal); // no CDN, nothing remote
        Assert.DoesNotContain("innerHTML", await _http.GetStringAsync("/app.js"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST", "/api/logs")]
    [InlineData("PUT", "/")]
    [InlineData("DELETE", "/api/logs/0/entries/0")]
    [InlineData("PATCH", "/app.js")]
    public async Task AnythingButGet_Is405(string method, string path)
    {
        using var response = await _http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}") });

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("GET, HEAD", string.Join(", ", response.Content.Headers.Allow));
    }

    [Fact]
    public async Task AnotherHostName_IsRefused_AsADnsRebindingPageWouldSendIt()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/logs");
        request.Headers.Host = "attacker.example";
        using var response = await _http.SendAsync(request);

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
        using var localhost = new HttpRequestMessage(HttpMethod.Get, "/api/logs");
        localhost.Headers.Host = $"localhost:{_http.BaseAddress!.Port}";
        Assert.Equal(HttpStatusCode.OK, (await _http.SendAsync(localhost)).StatusCode);
    }

    [Fact]
    public async Task Logs_NameTheFirstAlteredEntry_AndTheIntactLogsVerify()
    {
        var views = await _http.GetFromJsonAsync<JsonElement>("/api/logs");

        var byPath = views.EnumerateArray().ToDictionary(v => v.GetProperty("path").GetString()!);
        Assert.Equal(["agents/mailer", "agents/planner", "agents/planner-task-t7"], byPath.Keys.Order(StringComparer.Ordinal));
        var mailer = byPath["agents/mailer"];
        Assert.Equal("failed", mailer.GetProperty("badge").GetString());
        Assert.Equal("AlteredEntry", mailer.GetProperty("problem").GetString());
        Assert.Equal(ExplorerLogs.TamperedIndex, mailer.GetProperty("firstBadIndex").GetInt64());
        Assert.Equal(12, mailer.GetProperty("entries").GetInt64()); // read past the altered entry, for the investigator
        Assert.Equal("verified", byPath["agents/planner"].GetProperty("badge").GetString());
        Assert.Equal(5, byPath["agents/planner"].GetProperty("signedEntries").GetInt64());
    }

    [Fact]
    public async Task Entries_FilterByToolOutcomeAgentAndTime()
    {
        var denied = await _http.GetFromJsonAsync<JsonElement>("/api/entries?outcome=denied");
        Assert.All(denied.GetProperty("entries").EnumerateArray(), e => Assert.Equal("denied", e.GetProperty("outcome").GetString()));
        Assert.Equal(2 + 1 + 3, denied.GetProperty("total").GetInt32()); // planner 2, task 1, mailer 3

        var task = Uri.EscapeDataString(logs.TaskCredential.Id.ToString());
        var ofTask = await _http.GetFromJsonAsync<JsonElement>($"/api/entries?agent={task}&tool=Erp.GetInvoice");
        Assert.Equal(2, ofTask.GetProperty("total").GetInt32());

        var all = (await _http.GetFromJsonAsync<JsonElement>("/api/entries")).GetProperty("entries").EnumerateArray().ToList();
        var third = all[2].GetProperty("time").GetString()!;
        var fifth = all[4].GetProperty("time").GetString()!;
        var window = await _http.GetFromJsonAsync<JsonElement>($"/api/entries?from={Uri.EscapeDataString(third)}&to={Uri.EscapeDataString(fifth)}");
        Assert.Equal(3, window.GetProperty("total").GetInt32());

        using var bad = await _http.GetAsync("/api/entries?from=yesterday");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("RFC 3339", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proof_IsTheRealInclusionProof_AndVerifies()
    {
        var views = await _http.GetFromJsonAsync<JsonElement>("/api/logs");
        var planner = views.EnumerateArray().Single(v => v.GetProperty("path").GetString() == "agents/planner").GetProperty("id").GetInt32();

        var proof = await _http.GetFromJsonAsync<JsonElement>($"/api/logs/{planner}/entries/2/proof");

        Assert.True(proof.GetProperty("proofValid").GetBoolean());
        Assert.True(proof.GetProperty("signatureValid").GetBoolean());
        Assert.Equal(logs.Planner.Id.ToString(), proof.GetProperty("signer").GetString());
        var expected = AuditLogVerifier.CreateInclusionProof(logs.PlannerLog, 2);
        Assert.Equal(expected.Proof.Select(Convert.ToHexStringLower), proof.GetProperty("path").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(Convert.ToHexStringLower(expected.Checkpoint.Checkpoint.RootHash), proof.GetProperty("rootHash").GetString());

        using var missing = await _http.GetAsync($"/api/logs/{planner}/entries/99/proof");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var noLog = await _http.GetAsync("/api/logs/42/entries/0");
        Assert.Equal(HttpStatusCode.NotFound, noLog.StatusCode);
    }

    [Fact]
    public async Task Serving_WritesNothingToTheLogDirectories()
    {
        var before = Snapshot(logs.Root);
        var views = await _http.GetFromJsonAsync<JsonElement>("/api/logs");
        foreach (var view in views.EnumerateArray())
        {
            var id = view.GetProperty("id").GetInt32();
            for (var index = 0; index < view.GetProperty("entries").GetInt64(); index++)
            {
                using var _ = await _http.GetAsync($"/api/logs/{id}/entries/{index}/proof");
            }
        }

        await _http.GetStringAsync("/api/tree");
        await _http.GetStringAsync("/api/facets");

        Assert.Equal(before, Snapshot(logs.Root));
    }

    [Fact]
    public async Task AgentIdAuditServe_AsAProcess_PrintsItsLoopbackAddressAndServesThePage()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "AgentIdentity.Sdk.Cli.dll"), "audit", "serve", logs.Root, "--port", "0" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(line);
            Assert.StartsWith("Serving 3 audit log(s) from ", line, StringComparison.Ordinal);
            var url = new Uri(line.Split(" at ")[1].Split(' ')[0]);
            Assert.Equal("127.0.0.1", url.Host);

            using var http = new HttpClient { BaseAddress = url };
            Assert.Contains("Audit explorer", await http.GetStringAsync("/"), StringComparison.Ordinal);
            Assert.Equal(3, (await http.GetFromJsonAsync<JsonElement>("/api/logs")).GetArrayLength());
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public void AgentIdAuditServe_WithoutALog_ExitsThreeAndSaysWhatALogDirectoryHolds()
    {
        var empty = Directory.CreateTempSubdirectory("agentid-empty-").FullName;
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();

            var code = AgentIdCommand.Run(["audit", "serve", empty], stdout, stderr);

            Assert.Equal(AgentIdCommand.InputError, code);
            Assert.Contains("no audit log in", stderr.ToString(), StringComparison.Ordinal);
            Assert.Contains("audit-*.log", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Theory]
    [InlineData("--port", "70000", "is not a port")]
    [InlineData("--bind", "localhost.example", "is not an IP address")]
    public void AgentIdAuditServe_BadOption_IsAUsageError(string option, string value, string message)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = AgentIdCommand.Run(["audit", "serve", logs.Root, option, value], stdout, stderr);

        Assert.Equal(AgentIdCommand.UsageError, code);
        Assert.Contains(message, stderr.ToString(), StringComparison.Ordinal);
    }

    private static string Snapshot(string root) => string.Join('\n', Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{f} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))} {File.GetLastWriteTimeUtc(f).Ticks}"));

    public async Task DisposeAsync() => await _app.DisposeAsync();

    public void Dispose() => _http.Dispose();
}
