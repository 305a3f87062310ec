using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OnnxInterp.Tests.Support;

/// <summary>
/// Loads a page in headless Chromium over the DevTools protocol (on 127.0.0.1) and reports what a person would see
/// in the console: console.error calls, uncaught exceptions and failed loads (Log entries of level error), plus a
/// full-page screenshot. Tests that need it are ignored when Chromium is not installed, except under CI (CI=true),
/// where .ci/run installs it and a missing browser is a failure.
/// </summary>
public static class HeadlessChromium
{
    public sealed record PageLoad(IReadOnlyList<string> ConsoleErrors, byte[] Screenshot, int ContentHeight);

    public static string Require()
    {
        foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome" })
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail("chromium is not installed; .ci/run installs it (apt-get install chromium)");
        Assert.Ignore("chromium is not installed (apt-get install chromium)");
        return "";
    }

    public static PageLoad Load(string url, TimeSpan? timeout = null)
    {
        var exe = Require();
        var limit = timeout ?? TimeSpan.FromSeconds(60);
        using var cts = new CancellationTokenSource(limit);
        var profile = Path.Combine(Path.GetTempPath(), "onnxinterp-chromium-" + Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", $"--user-data-dir={profile}", "--window-size=1280,1024", "about:blank" })
            psi.ArgumentList.Add(a);
        using var browser = Process.Start(psi)!;
        try
        {
            var endpoint = WaitForEndpoint(browser, cts.Token);
            return Task.Run(() => Drive(endpoint, url, cts.Token)).GetAwaiter().GetResult();
        }
        finally
        {
            try { browser.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            browser.WaitForExit(10_000);
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static Uri WaitForEndpoint(Process browser, CancellationToken ct)
    {
        const string marker = "DevTools listening on ";
        var seen = new StringBuilder();
        while (!ct.IsCancellationRequested)
        {
            var line = browser.StandardError.ReadLineAsync(ct).AsTask().GetAwaiter().GetResult();
            if (line is null) break;
            seen.AppendLine(line);
            int i = line.IndexOf(marker, StringComparison.Ordinal);
            if (i >= 0)
            {
                // Keep draining stderr so the browser never blocks on a full pipe.
                _ = Task.Run(async () => { while (await browser.StandardError.ReadLineAsync() is not null) { } });
                _ = Task.Run(async () => { while (await browser.StandardOutput.ReadLineAsync() is not null) { } });
                return new Uri(line[(i + marker.Length)..].Trim());
            }
        }
        throw new InvalidOperationException("chromium did not open its DevTools endpoint:\n" + seen);
    }

    static async Task<PageLoad> Drive(Uri endpoint, string url, CancellationToken ct)
    {
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(endpoint, ct);
        int nextId = 0;
        var errors = new List<string>();
        var pending = new Dictionary<int, TaskCompletionSource<JsonObject>>();
        var loaded = new TaskCompletionSource();
        string? session = null;

        var reader = Task.Run(async () =>
        {
            var buffer = new byte[1 << 16];
            var message = new MemoryStream();
            while (ws.State == WebSocketState.Open && !ct.IsCancellationRequested)
            {
                var r = await ws.ReceiveAsync(buffer, ct);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var msg = JsonNode.Parse(message.ToArray())!.AsObject();
                message.SetLength(0);
                if (msg["id"] is { } id)
                {
                    TaskCompletionSource<JsonObject>? tcs;
                    lock (pending) pending.Remove(id.GetValue<int>(), out tcs);
                    tcs?.TrySetResult(msg);
                    continue;
                }
                var method = msg["method"]?.GetValue<string>();
                var p = msg["params"];
                string? type = p?["type"]?.GetValue<string>();
                string? level = p?["entry"]?["level"]?.GetValue<string>();
                if (method == "Page.loadEventFired")
                {
                    loaded.TrySetResult();
                }
                else if (method == "Runtime.consoleAPICalled" && type is "error" or "assert")
                {
                    var args = p!["args"]!.AsArray().Select(a => a?["value"]?.ToJsonString() ?? a?["description"]?.GetValue<string>());
                    lock (errors) errors.Add($"console.{type}: {string.Join(" ", args)}");
                }
                else if (method == "Runtime.exceptionThrown")
                {
                    lock (errors) errors.Add($"exception: {p?["exceptionDetails"]?["exception"]?["description"]} {p?["exceptionDetails"]?["text"]}");
                }
                else if (method == "Log.entryAdded" && level == "error")
                {
                    lock (errors) errors.Add($"log ({p!["entry"]!["source"]}): {p["entry"]!["text"]} {p["entry"]!["url"]}");
                }
            }
        }, ct);

        async Task<JsonObject> Send(string method, JsonObject? parameters = null, bool inSession = true)
        {
            int id = Interlocked.Increment(ref nextId);
            var tcs = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (pending) pending[id] = tcs;
            var msg = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
            if (inSession && session is not null) msg["sessionId"] = session;
            await ws.SendAsync(Encoding.UTF8.GetBytes(msg.ToJsonString()), WebSocketMessageType.Text, true, ct);
            var reply = await tcs.Task.WaitAsync(ct);
            if (reply["error"] is { } err) throw new InvalidOperationException($"DevTools {method}: {err.ToJsonString()}");
            return reply["result"]?.AsObject() ?? new JsonObject();
        }

        var target = await Send("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, inSession: false);
        var attached = await Send("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true }, inSession: false);
        session = attached["sessionId"]!.GetValue<string>();
        await Send("Page.enable");
        await Send("Runtime.enable");
        await Send("Log.enable");
        await Send("Page.navigate", new JsonObject { ["url"] = url });
        await loaded.Task.WaitAsync(ct);
        await Task.Delay(500, ct); // late console messages and image decode errors
        var metrics = await Send("Page.getLayoutMetrics");
        int height = (int)(metrics["cssContentSize"]?["height"]?.GetValue<double>() ?? 0);
        var shot = await Send("Page.captureScreenshot", new JsonObject { ["format"] = "png", ["captureBeyondViewport"] = true });
        try { await Send("Browser.close", inSession: false).WaitAsync(TimeSpan.FromSeconds(5), ct); }
        catch (Exception e) when (e is WebSocketException or TimeoutException or InvalidOperationException or OperationCanceledException) { }
        _ = reader;
        lock (errors) return new PageLoad(errors.ToList(), Convert.FromBase64String(shot["data"]!.GetValue<string>()), height);
    }
}
