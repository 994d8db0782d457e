using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AgentIdentity.Testing;

/// <summary>
/// A real headless Chromium (Debian's <c>chromium</c> package) driven over the Chrome DevTools Protocol on one WebSocket: one
/// page (a flattened target session), JavaScript evaluation, waits on page state (a promise in the page that resolves when a
/// condition holds; no sleeping in the test), console and CSP messages, and PNG screenshots. The profile lives in a temp
/// directory deleted on dispose.
/// </summary>
public sealed class ChromiumBrowser : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly ConcurrentQueue<string> _messages = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _receiver;
    private readonly SemaphoreSlim _send = new(1, 1);
    private int _nextId;
    private string _session = string.Empty;

    private ChromiumBrowser(Process process, string profile, ClientWebSocket socket)
    {
        _process = process;
        _profile = profile;
        _socket = socket;
        _receiver = Task.Run(ReceiveAsync);
    }

    /// <summary>Gets the console messages, uncaught exceptions and browser log entries (CSP violations among them) seen so far.</summary>
    public IReadOnlyCollection<string> Messages => _messages;

    /// <summary>The Chromium executable: <c>CHROMIUM_PATH</c>, else Debian's.</summary>
    /// <returns>Its path, or <see langword="null"/> when it is not installed.</returns>
    public static string? FindExecutable() =>
        new[] { Environment.GetEnvironmentVariable("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    /// <summary>Starts Chromium headless with a page of <paramref name="width"/> × <paramref name="height"/> CSS pixels.</summary>
    /// <returns>The browser, its page attached.</returns>
    public static async Task<ChromiumBrowser> StartAsync(int width = 1400, int height = 1000)
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException("chromium is not installed: run eng/test.sh (it installs the Debian package) or apt-get install chromium.");
        var profile = Directory.CreateTempSubdirectory("agentidentity-chromium-").FullName;
        var start = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync", "--disable-component-update", "--mute-audio",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile}", $"--window-size={width},{height}", "about:blank",
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start.");
        var endpoint = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                endpoint.TrySetException(new InvalidOperationException($"chromium exited before it listened: {output}"));
                return;
            }

            lock (output)
            {
                output.AppendLine(e.Data);
            }

            const string Prefix = "DevTools listening on ";
            if (e.Data.StartsWith(Prefix, StringComparison.Ordinal))
            {
                endpoint.TrySetResult(new Uri(e.Data[Prefix.Length..].Trim()));
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        ClientWebSocket? socket = null;
        try
        {
            var uri = await endpoint.Task.WaitAsync(CommandTimeout);
            socket = new ClientWebSocket();
            socket.Options.KeepAliveInterval = TimeSpan.Zero;
            await socket.ConnectAsync(uri, CancellationToken.None).WaitAsync(CommandTimeout);
            var browser = new ChromiumBrowser(process, profile, socket);
            var target = await browser.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, browserLevel: true);
            var attached = await browser.SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target.GetProperty("targetId").GetString(), ["flatten"] = true }, browserLevel: true);
            browser._session = attached.GetProperty("sessionId").GetString()!;
            await browser.SendAsync("Page.enable");
            await browser.SendAsync("Runtime.enable");
            await browser.SendAsync("Log.enable");
            await browser.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
            return browser;
        }
        catch
        {
            socket?.Dispose();
            process.Kill(entireProcessTree: true);
            process.Dispose();
            Directory.Delete(profile, recursive: true);
            throw;
        }
    }

    /// <summary>Opens <paramref name="url"/> and waits until its document has loaded.</summary>
    public async Task NavigateAsync(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var result = await SendAsync("Page.navigate", new JsonObject { ["url"] = url.ToString() });
        if (result.TryGetProperty("errorText", out var error))
        {
            throw new InvalidOperationException($"chromium could not open {url}: {error.GetString()}");
        }

        await WaitForAsync($"document.readyState === 'complete' && location.href === {JsonSerializer.Serialize(url.ToString())}");
    }

    /// <summary>Evaluates <paramref name="expression"/> in the page (awaiting a promise) and returns its JSON value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"The page threw evaluating '{expression}': {exception}");
        }

        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v : default;
    }

    /// <summary>Evaluates <paramref name="expression"/> and returns it as a string.</summary>
    public async Task<string?> EvaluateStringAsync(string expression)
    {
        var value = await EvaluateAsync(expression);
        return value.ValueKind == JsonValueKind.String ? value.GetString() : value.ValueKind == JsonValueKind.Undefined ? null : value.GetRawText();
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> (a JavaScript expression) is truthy in the page: a promise in the page re-checks it
    /// on every DOM change and every 25 ms of page time, and resolves when it holds. <paramref name="timeout"/> is only a safety net.
    /// </summary>
    public async Task WaitForAsync(string condition, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var script = $$"""
            new Promise((resolve, reject) => {
              const check = () => { try { return !!({{condition}}); } catch { return false; } };
              if (check()) { resolve(true); return; }
              const observer = new MutationObserver(() => { if (check()) { observer.disconnect(); clearInterval(timer); resolve(true); } });
              observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
              const timer = setInterval(() => { if (check()) { observer.disconnect(); clearInterval(timer); resolve(true); } }, 25);
              setTimeout(() => { observer.disconnect(); clearInterval(timer); reject(new Error('timed out')); }, {{(int)limit.TotalMilliseconds}});
            })
            """;
        try
        {
            await EvaluateAsync(script).WaitAsync(limit + TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            var body = await EvaluateStringAsync("document.body ? document.body.innerText.slice(0, 2000) : '(no body)'");
            throw new TimeoutException($"The page never satisfied '{condition}' within {limit}. Messages: {string.Join(" | ", _messages)}. Page text: {body}", ex);
        }
    }

    /// <summary>Saves a PNG screenshot of the whole page to <paramref name="path"/>.</summary>
    public async Task ScreenshotAsync(string path)
    {
        var result = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(result.GetProperty("data").GetString()!));
    }

    /// <summary>Sends a DevTools command to the page (or to the browser) and returns its result.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters = null, bool browserLevel = false)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (!browserLevel)
        {
            message["sessionId"] = _session;
        }

        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
        }
        finally
        {
            _send.Release();
        }

        return await reply.Task.WaitAsync(CommandTimeout);
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                using var document = JsonDocument.Parse(message.ToArray());
                message.SetLength(0);
                var root = document.RootElement;
                if (root.TryGetProperty("id", out var idElement) && _pending.TryRemove(idElement.GetInt32(), out var reply))
                {
                    if (root.TryGetProperty("error", out var error))
                    {
                        reply.TrySetException(new InvalidOperationException($"DevTools error: {error}"));
                    }
                    else
                    {
                        reply.TrySetResult(root.GetProperty("result").Clone());
                    }
                }
                else if (root.TryGetProperty("method", out var method))
                {
                    Record(method.GetString()!, root.TryGetProperty("params", out var p) ? p : default);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // Closing.
        }

        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(new InvalidOperationException("The DevTools connection closed."));
        }
    }

    private void Record(string method, JsonElement parameters)
    {
        switch (method)
        {
            case "Runtime.consoleAPICalled":
                _messages.Enqueue($"console.{parameters.GetProperty("type").GetString()}: {parameters.GetProperty("args")}");
                break;
            case "Runtime.exceptionThrown":
                _messages.Enqueue($"exception: {parameters.GetProperty("exceptionDetails")}");
                break;
            case "Log.entryAdded":
                var entry = parameters.GetProperty("entry");
                _messages.Enqueue($"log.{entry.GetProperty("level").GetString()}: {entry.GetProperty("text").GetString()}");
                break;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await SendAsync("Browser.close", browserLevel: true).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or WebSocketException or OperationCanceledException)
        {
            // Killed below.
        }

        await _stop.CancelAsync();
        try
        {
            await _receiver;
        }
        catch (OperationCanceledException)
        {
        }

        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _socket.Dispose();
        _stop.Dispose();
        _send.Dispose();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(_profile, recursive: true);
                break;
            }
            catch (IOException) when (attempt < 3)
            {
                // Chromium's helpers may still be letting go of the profile.
            }
        }
    }
}
