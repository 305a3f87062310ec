using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// Peak memory of streaming a dataset's activations to a store with <see cref="ActivationCapture.ToStore"/>: each
/// prompt count runs in its own child process (this executable, hidden verb) whose VmHWM is the peak. A baseline child
/// opens the same session and runs one batch with the same hooks and positions, without a store. The peak must
/// not grow with the number of prompts while the store file grows with it.
/// </summary>
static class CaptureMemoryBench
{
    public const string CaptureChildVerb = "__capture-child";
    public const string BaselineChildVerb = "__capture-baseline-child";
    const string InfoPrefix = "INFO ";
    static readonly HookPattern[] Hooks = ["blocks.*.hook_resid_post"];
    static readonly int[] Positions = [-1];

    public sealed record Options(LlamaShape Shape, IReadOnlyList<int> Counts, int MinLen, int MaxLen, int Batch, ulong Seed,
        int PollMs, string? TempRoot, bool Keep, IReadOnlyList<KeyValuePair<string, string>> ChildEnv);

    public static bool IsChildVerb(string verb) => verb is CaptureChildVerb or BaselineChildVerb;

    public static Summary Run(Options o)
    {
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-capmem-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"capture-memory: {o.Shape}; prompts {string.Join(", ", o.Counts)} of {o.MinLen}..{o.MaxLen} tokens, batch {o.Batch}; folder {root}");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var sw = Stopwatch.StartNew();
            var (config, ckptBytes) = RandomCheckpoint.Write(Path.Combine(root, "hf"), o.Shape, o.Seed, TensorDType.F32);
            var dir = Path.Combine(root, "onnx");
            ModelExporter.Export(Path.Combine(root, "hf"), dir, new ExportOptions { HashSource = false });
            Console.WriteLine($"checkpoint {RandomCheckpoint.Describe(ckptBytes)} written and exported in {Stats.F(sw.Elapsed.TotalSeconds)} s");

            string[] common = [dir, o.Seed.ToString(CultureInfo.InvariantCulture), Str(o.MinLen), Str(o.MaxLen), Str(o.Batch)];
            var baseline = ExportMemoryBench.RunChild([BaselineChildVerb, .. common], o.PollMs, o.ChildEnv);
            Console.WriteLine($"baseline child: VmHWM {Kb(baseline.SelfHwmKb)}, polled max RSS {Kb(baseline.Polled.MaxRssKb)}, {Stats.F(baseline.Seconds)} s");

            var runs = new List<(int N, ExportMemoryBench.ChildResult Child, long FileBytes, long Rows, Dictionary<string, string> Info)>();
            foreach (int n in o.Counts)
            {
                var store = Path.Combine(root, $"store-{n}.safetensors");
                var child = ExportMemoryBench.RunChild([CaptureChildVerb, .. common, Str(n), store], o.PollMs, o.ChildEnv);
                long bytes = new FileInfo(store).Length;
                long rows;
                using (var reader = ActivationStoreReader.Open(store)) rows = reader.Rows;
                if (rows != n) throw new InvalidOperationException($"the store for {n} prompts holds {rows} rows");
                var info = Info(child.Output);
                Console.WriteLine($"capture child, {n} prompts: VmHWM {Kb(child.SelfHwmKb)}, polled max RSS {Kb(child.Polled.MaxRssKb)} " +
                                  $"(anon {Kb(child.Polled.MaxAnonKb)}), store {RandomCheckpoint.Describe(bytes)}, capture {info["capture_s"]} s, child {Stats.F(child.Seconds)} s");
                if (!o.Keep) File.Delete(store);
                runs.Add((n, child, bytes, rows, info));
            }
            return Report(o, config, baseline, runs);
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else
            {
                ForwardBench.TryDelete(root);
                Console.WriteLine($"removed {root}");
            }
        }
    }

    static Summary Report(Options o, ModelConfig c, ExportMemoryBench.ChildResult baseline,
        List<(int N, ExportMemoryBench.ChildResult Child, long FileBytes, long Rows, Dictionary<string, string> Info)> runs)
    {
        var envText = o.ChildEnv.Count == 0 ? "" : "; child env " + string.Join(",", o.ChildEnv.Select(kv => kv.Key + "=" + kv.Value));
        var sum = new Summary($"capture-memory: {o.Shape}; prompts of {o.MinLen}..{o.MaxLen} tokens, batch {o.Batch}, " +
                              $"{c.NumLayers} x hook_resid_post at the last position, F32 safetensors{envText}");
        var j = sum.Json;
        j["verb"] = "capture-memory";
        j["machine"] = MachineState.Json();
        j["config"] = new JsonObject
        {
            ["hidden"] = c.HiddenSize, ["layers"] = c.NumLayers, ["heads"] = c.NumHeads, ["kv_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim, ["mlp"] = c.IntermediateSize, ["vocab"] = c.VocabSize, ["tied"] = c.TieWordEmbeddings,
            ["min_len"] = o.MinLen, ["max_len"] = o.MaxLen, ["batch"] = o.Batch, ["seed"] = o.Seed, ["poll_ms"] = o.PollMs,
            ["hooks"] = new JsonArray(Hooks.Select(h => (JsonNode)h.Text).ToArray()), ["positions"] = new JsonArray(Positions.Select(p => (JsonNode)p).ToArray()),
            ["child_env"] = string.Join(",", o.ChildEnv.Select(kv => kv.Key + "=" + kv.Value)),
        };
        j["baseline"] = new JsonObject { ["vmhwm_bytes"] = baseline.SelfHwmKb * 1024, ["seconds"] = baseline.Seconds, ["polled"] = baseline.Polled.Json() };
        var arr = new JsonArray();
        long rowBytes = (long)c.NumLayers * Positions.Length * c.HiddenSize * 4;
        sum.Row("baseline (VmHWM)", Kb(baseline.SelfHwmKb), $"open the session + one batch of {o.Batch} through ModelSession.Run, same hooks, no store");
        foreach (var (n, child, bytes, rows, info) in runs)
        {
            var node = new JsonObject
            {
                ["prompts"] = n, ["vmhwm_bytes"] = child.SelfHwmKb * 1024, ["store_bytes"] = bytes, ["rows"] = rows,
                ["child_seconds"] = child.Seconds, ["polled"] = child.Polled.Json(),
            };
            foreach (var (k, v) in info) node[k] = double.Parse(v, CultureInfo.InvariantCulture);
            arr.Add(node);
            string I(string key) => RandomCheckpoint.Describe((long)double.Parse(info[key], CultureInfo.InvariantCulture));
            sum.Row($"peak, {n} prompts (VmHWM)", Kb(child.SelfHwmKb),
                $"{Stats.F((child.SelfHwmKb - baseline.SelfHwmKb) / 1024.0)} MiB over baseline; at the end: anon {I("end_anon_bytes")}, " +
                $"file {I("end_file_bytes")}, shmem {I("end_shmem_bytes")}; GC committed at its last GC {I("committed_bytes")}, live {I("heap_bytes")}, " +
                $"allocated in all {I("allocated_bytes")} in {info["gc_count"]} gen0 GCs");
            sum.Row($"store, {n} prompts", RandomCheckpoint.Describe(bytes),
                $"{rows} rows x {rowBytes} B + {bytes - rows * rowBytes} B header; captured in {info["capture_s"]} s " +
                $"({Stats.F(n / double.Parse(info["capture_s"], CultureInfo.InvariantCulture), 0)} prompts/s)");
        }
        j["runs"] = arr;
        if (runs.Count >= 2)
        {
            var (n0, c0, b0, _, _) = runs[0];
            var (n1, c1, b1, _, _) = runs[^1];
            double diffMiB = (c1.SelfHwmKb - c0.SelfHwmKb) / 1024.0;
            double peakRatio = c1.SelfHwmKb / (double)c0.SelfHwmKb;
            double overRatio = (c1.SelfHwmKb - baseline.SelfHwmKb) / (double)Math.Max(1, c0.SelfHwmKb - baseline.SelfHwmKb);
            double fileRatio = b1 / (double)b0;
            j["peak_diff_bytes"] = (c1.SelfHwmKb - c0.SelfHwmKb) * 1024;
            j["peak_ratio"] = peakRatio;
            j["peak_over_baseline_ratio"] = overRatio;
            j["store_ratio"] = fileRatio;
            sum.Row($"peak({n1}) - peak({n0})", Stats.F(diffMiB) + " MiB", "VmHWM difference; flat memory means about 0");
            sum.Row($"peak({n1}) / peak({n0})", Stats.F(peakRatio, 3), $"({Stats.F(overRatio, 2)} for the part over baseline)");
            sum.Row($"store({n1}) / store({n0})", Stats.F(fileRatio, 3), $"prompts x {Stats.F(n1 / (double)n0, 1)}");
        }
        sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
        return sum;
    }

    static string Str(int x) => x.ToString(CultureInfo.InvariantCulture);

    static string Kb(long kb) => RandomCheckpoint.Describe(kb * 1024);

    static Dictionary<string, string> Info(string output)
    {
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith(InfoPrefix, StringComparison.Ordinal))
            ?? throw new InvalidOperationException("child printed no INFO line:\n" + output);
        return line[InfoPrefix.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
    }

    /// <summary>
    /// The hidden child verbs: args = model dir, seed, min len, max len, batch [, prompt count, store path].
    /// The prompts are made in the child (the same seeded generator as the generate verb), so they count in its peak
    /// as a caller's dataset would: about 4 bytes per token plus ~32 bytes per prompt.
    /// </summary>
    public static int Child(string verb, IReadOnlyList<string> args)
    {
        string dir = args[0];
        ulong seed = ulong.Parse(args[1], CultureInfo.InvariantCulture);
        int minLen = int.Parse(args[2], CultureInfo.InvariantCulture), maxLen = int.Parse(args[3], CultureInfo.InvariantCulture);
        int batch = int.Parse(args[4], CultureInfo.InvariantCulture);
        using var session = ModelSession.Open(dir);
        int vocab = session.Manifest.Config.VocabSize;
        var sw = Stopwatch.StartNew();
        if (verb == CaptureChildVerb)
        {
            int n = int.Parse(args[5], CultureInfo.InvariantCulture);
            var prompts = GenerateBench.Prompts(n, minLen, maxLen, vocab, seed + 20);
            sw.Restart();
            ActivationCapture.ToStore(session, prompts, args[6], new CaptureOptions { Hooks = Hooks, Positions = Positions, BatchSize = batch });
        }
        else
        {
            var prompts = GenerateBench.Prompts(batch, minLen, maxLen, vocab, seed + 20);
            sw.Restart();
            var r = session.Run(ForwardRequest.FromPrompts(prompts, session.Manifest.Config.PadTokenId ?? 0) with
            {
                Hooks = Hooks, CapturePositions = Positions, LogitPositions = [-1],
            });
            GC.KeepAlive(r);
        }
        double seconds = sw.Elapsed.TotalSeconds;
        var st = ProcStatus.Read(Environment.ProcessId);
        var gc = GC.GetGCMemoryInfo();
        Console.WriteLine(FormattableString.Invariant(
            $"{InfoPrefix}capture_s={seconds:F2} heap_bytes={GC.GetTotalMemory(false)} committed_bytes={gc.TotalCommittedBytes} allocated_bytes={GC.GetTotalAllocatedBytes()} gc_count={GC.CollectionCount(0)} ") +
            FormattableString.Invariant($"end_anon_bytes={st?.AnonKb * 1024} end_file_bytes={st?.FileKb * 1024} end_shmem_bytes={st?.ShmemKb * 1024}"));
        return ExportMemoryBench.PrintResult();
    }
}
