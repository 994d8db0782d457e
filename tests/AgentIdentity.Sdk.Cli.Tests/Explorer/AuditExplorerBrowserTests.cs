using System.Net;
using System.Text.Json;
using AgentIdentity.Cli.Explorer;
using Microsoft.AspNetCore.Builder;

namespace AgentIdentity.Cli.Tests.Explorer;

/// <summary>
/// The audit explorer in a real browser: Debian's headless Chromium over the DevTools protocol loads the page that
/// <c>agentid audit serve</c> serves over real logs, and the test reads what a person would see. Screenshots go to
/// <c>artifacts/screenshots/</c> (not committed).
/// </summary>
public sealed class AuditExplorerBrowserTests(ExplorerLogs logs) : IClassFixture<ExplorerLogs>, IAsyncLifetime
{
    private WebApplication _app = null!;
    private ChromiumBrowser _browser = null!;
    private Uri _base = null!;

    public async Task InitializeAsync()
    {
        _app = AuditExplorer.Create(new AuditExplorerOptions(logs.Root, logs.Bundle, IPAddress.Loopback, 0));
        await _app.StartAsync();
        _base = AuditExplorer.ListeningUri(_app);
        _browser = await ChromiumBrowser.StartAsync();
        await _browser.NavigateAsync(_base);
        await _browser.WaitForAsync("document.body.dataset.state === 'ready'");
    }

    [Fact]
    public async Task Page_FlagsTheTamperedLog_FiltersByADeniedTool_AndVerifiesAnInclusionProof()
    {
        // Badges: the tampered log is flagged with its first altered entry; the intact ones verify against the bundle.
        var badges = await Json("[...document.querySelectorAll('.card')].map(c => ({ path: c.querySelector('.path').textContent, state: c.dataset.badge, where: (c.querySelector('.where') || {}).textContent || '', text: c.textContent }))");
        var mailer = badges.EnumerateArray().Single(b => b.GetProperty("path").GetString() == "agents/mailer");
        Assert.Equal("failed", mailer.GetProperty("state").GetString());
        Assert.Equal($"first altered entry: {ExplorerLogs.TamperedIndex}", mailer.GetProperty("where").GetString());
        Assert.Contains("FAILED (AlteredEntry)", mailer.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.All(badges.EnumerateArray().Where(b => b.GetProperty("path").GetString() != "agents/mailer"), b => Assert.Equal("verified", b.GetProperty("state").GetString()));
        Assert.Equal("altered", await _browser.EvaluateStringAsync($"document.querySelector('#entries-table tr[data-index=\"{ExplorerLogs.TamperedIndex}\"][data-tool=\"Mail.Seng\"]').dataset.status"));
        await _browser.ScreenshotAsync(Screenshot("explorer-overview.png"));

        // The delegation tree: planner -> its task identity -> the task's calls.
        var task = logs.TaskCredential.Id.ToString();
        Assert.Equal(logs.Planner.Id.ToString(), await _browser.EvaluateStringAsync(
            $"document.querySelector('#tree-root li[data-agent=\"{task}\"]').parentElement.closest('li[data-agent]').dataset.agent"));
        Assert.Contains("Erp.DeleteInvoice → denied (tool not in the task's policy)", await _browser.EvaluateStringAsync(
            $"document.querySelector('#tree-root li[data-agent=\"{task}\"] .calls').textContent"), StringComparison.Ordinal);

        // Filter by a denied tool: only its rows remain, from the agent and from its task identity.
        await _browser.EvaluateAsync("(() => { const s = document.getElementById('f-tool'); s.value = 'Erp.DeleteInvoice'; s.dispatchEvent(new Event('change')); })()");
        await _browser.WaitForAsync("document.getElementById('entries-table').dataset.query.includes('tool=Erp.DeleteInvoice')");
        var rows = await Json("[...document.querySelectorAll('#entries-table tbody tr')].map(r => ({ tool: r.dataset.tool, outcome: r.dataset.outcome, agent: r.children[3].textContent, reason: r.querySelector('.reason').textContent }))");
        Assert.Equal(2, rows.GetArrayLength());
        Assert.All(rows.EnumerateArray(), r =>
        {
            Assert.Equal("Erp.DeleteInvoice", r.GetProperty("tool").GetString());
            Assert.Equal("denied", r.GetProperty("outcome").GetString());
        });
        Assert.Equal([logs.Planner.Id.ToString(), task], rows.EnumerateArray().Select(r => r.GetProperty("agent").GetString()).Order(StringComparer.Ordinal));
        Assert.Equal(2, (await _browser.EvaluateAsync("document.querySelectorAll('#lanes .dot').length")).GetInt32());
        await _browser.ScreenshotAsync(Screenshot("explorer-filtered-denied-tool.png"));

        // Click an entry: its inclusion proof against the latest checkpoint, verified by the server and again in the page.
        await _browser.EvaluateAsync("document.querySelector('#entries-table tbody tr').click()");
        await _browser.WaitForAsync("['valid', 'invalid', 'error'].includes(document.getElementById('proof').dataset.state)");
        Assert.Equal("valid", await _browser.EvaluateStringAsync("document.getElementById('proof').dataset.state"));
        Assert.Equal("valid", await _browser.EvaluateStringAsync("document.querySelector('#proof .browser-verdict').dataset.state"));
        Assert.Contains("is included in the checkpoint of size", await _browser.EvaluateStringAsync("document.querySelector('#proof .verdict').textContent"), StringComparison.Ordinal);
        await _browser.ScreenshotAsync(Screenshot("explorer-inclusion-proof.png"));

        // The altered entry has no proof: the page says why.
        await _browser.EvaluateAsync("document.getElementById('f-clear').click()");
        await _browser.WaitForAsync("!document.getElementById('entries-table').dataset.query.includes('tool=')");
        await _browser.EvaluateAsync($"document.querySelector('#entries-table tr[data-status=\"altered\"]').click()");
        await _browser.WaitForAsync("document.getElementById('proof').dataset.state === 'error'");
        Assert.Contains($"entry {ExplorerLogs.TamperedIndex} is altered", await _browser.EvaluateStringAsync("document.querySelector('#proof .verdict').textContent"), StringComparison.Ordinal);

        Assert.DoesNotContain(_browser.Messages, m => m.StartsWith("exception", StringComparison.Ordinal) || m.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Page_RendersAHostileToolNameAndReasonAsText()
    {
        var cell = await Json($"(() => {{ const r = [...document.querySelectorAll('#entries-table tbody tr')].find(r => r.dataset.tool.startsWith('<script>')); return {{ tool: r.querySelector('.tool').textContent, reason: r.querySelector('.reason').textContent, elements: r.querySelectorAll('script, img, b').length }}; }})()");

        Assert.Equal(ExplorerLogs.HostileTool, cell.GetProperty("tool").GetString());
        Assert.Equal(ExplorerLogs.HostileReason, cell.GetProperty("reason").GetString());
        Assert.Equal(0, cell.GetProperty("elements").GetInt32());
        Assert.Equal("undefined", await _browser.EvaluateStringAsync("typeof window.__xss"));
        Assert.Equal(1, (await _browser.EvaluateAsync("document.scripts.length")).GetInt32());
        Assert.Equal(0, (await _browser.EvaluateAsync("document.querySelectorAll('img').length")).GetInt32());

        // The entry's detail view and the delegation tree show it as text too.
        await _browser.EvaluateAsync("[...document.querySelectorAll('#entries-table tbody tr')].find(r => r.dataset.tool.startsWith('<script>')).click()");
        await _browser.WaitForAsync("document.getElementById('proof').dataset.state === 'valid'");
        Assert.Contains(ExplorerLogs.HostileTool.Replace("\"", "\\\"", StringComparison.Ordinal), await _browser.EvaluateStringAsync("document.getElementById('detail-json').textContent"), StringComparison.Ordinal);
        Assert.Equal("undefined", await _browser.EvaluateStringAsync("typeof window.__xss"));
        Assert.Equal(0, (await _browser.EvaluateAsync("document.querySelectorAll('img, #tree-root script, #detail b').length")).GetInt32());
    }

    private async Task<JsonElement> Json(string expression) => await _browser.EvaluateAsync(expression);

    /// <summary>Where screenshots go: <c>artifacts/screenshots/</c> of the repository (git-ignored), else beside the test assembly.</summary>
    internal static string Screenshot(string name)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "AgentIdentity.Sdk.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? AppContext.BaseDirectory, "artifacts", "screenshots", name);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _app.DisposeAsync();
    }
}
