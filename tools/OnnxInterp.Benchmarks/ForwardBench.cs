using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// The cost of hook outputs and injection inputs on a full forward pass, measured on the graph itself: raw ORT
/// sessions over the exported model.onnx, OrtValues allocated once, one IOBinding per variant reused, every
/// variant once per round in rotating order, warm-up rounds first, medians of per-round ratios.
/// </summary>
static class ForwardBench
{
    public sealed record Options(LlamaShape Shape, int Batch, int Seq, int Rounds, int Warmup, ulong Seed,
        int Threads, bool Spinning, bool Defaults, bool Session, (int M, int K, int N) MatMul, string? TempRoot, bool Keep,
        ExecutionProviderKind Provider = ExecutionProviderKind.Cpu);

    sealed record Variant(string Key, string Label, Func<double> RunMs);

    public static Summary Run(Options o)
    {
        var s = o.Shape;
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"forward: {s}; batch {o.Batch} x seq {o.Seq}; {o.Warmup} warm-up + {o.Rounds} rounds; folder {root}");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var sw = Stopwatch.StartNew();
            var (config, ckptBytes) = RandomCheckpoint.Write(Path.Combine(root, "hf"), s, o.Seed, TensorDType.F32);
            Console.WriteLine($"checkpoint written: {RandomCheckpoint.Describe(ckptBytes)} in {Stats.F(sw.Elapsed.TotalSeconds)} s");
            sw.Restart();
            var plainDir = Path.Combine(root, "plain");
            var hookDir = Path.Combine(root, "hooked");
            ModelExporter.Export(Path.Combine(root, "hf"), plainDir, ExportOptions.Plain with { HashSource = false });
            var hooked = ModelExporter.Export(Path.Combine(root, "hf"), hookDir, new ExportOptions { HashSource = false });
            Console.WriteLine($"exported plain + hooked in {Stats.F(sw.Elapsed.TotalSeconds)} s");
            return Measure(o, config, plainDir, hookDir, hooked.Manifest);
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else TryDelete(root);
        }
    }

    static Summary Measure(Options o, ModelConfig c, string plainDir, string hookDir, ModelManifest manifest)
    {
        int B = o.Batch, S = o.Seq;
        using var opts = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            // The hooked graph's injection defaults are initializers that share an input's name; ORT warns once per input.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (o.Threads > 0) opts.IntraOpNumThreads = o.Threads;
        // As ModelSession does: idle spinning pools of the other sessions would steal the cores (ORT-NOTES).
        if (!o.Spinning) opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        // --provider cuda: the raw sessions and the MatMul ceiling run on CUDA too; a missing library fails here, named.
        ExecutionProviders.Append(opts, new SessionConfig { Provider = o.Provider }, warn: null);

        var sw = Stopwatch.StartNew();
        using var plain = new InferenceSession(Path.Combine(plainDir, ModelExporter.ModelFile), opts);
        using var hook = new InferenceSession(Path.Combine(hookDir, ModelExporter.ModelFile), opts);
        using var mm = new MatMulReference(o.MatMul.M, o.MatMul.K, o.MatMul.N, opts, o.Seed + 1);
        using var ms = o.Session ? ModelSession.Open(hookDir, new SessionConfig { Threads = o.Threads, Provider = o.Provider }) : null;
        Console.WriteLine($"sessions created in {Stats.F(sw.Elapsed.TotalSeconds)} s");

        // Inputs, allocated once.
        var rng = new SplitMix64(o.Seed + 2);
        var idsArr = new int[B][];
        var ids = new long[B * S];
        for (int b = 0; b < B; b++)
        {
            idsArr[b] = new int[S];
            for (int t = 0; t < S; t++) ids[b * S + t] = idsArr[b][t] = (int)(rng.Next() % (ulong)c.VocabSize);
        }
        var pos = new long[B * S];
        for (int i = 0; i < pos.Length; i++) pos[i] = i % S;
        var disposables = new List<IDisposable>();
        OrtValue Keep(OrtValue v) { disposables.Add(v); return v; }
        var common = new List<(string, OrtValue)>
        {
            ("input_ids", Keep(OrtValue.CreateTensorValueFromMemory(ids, [B, S]))),
            ("attention_mask", Keep(OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, B * S).ToArray(), [B, S]))),
            ("position_ids", Keep(OrtValue.CreateTensorValueFromMemory(pos, [B, S]))),
        };
        for (int l = 0; l < c.NumLayers; l++)
        {
            long[] empty = [B, c.NumKvHeads, 0, c.HeadDim];
            common.Add((DecoderGraph.PastKey(l), Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, empty))));
            common.Add((DecoderGraph.PastValue(l), Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, empty))));
        }
        var logits = new float[(long)B * S * c.VocabSize];
        var logitsValue = Keep(OrtValue.CreateTensorValueFromMemory(logits, [B, S, c.VocabSize]));

        var hooks = manifest.Hooks.Where(h => h.Output is not null).ToList();
        var hookOutputs = hooks.Select(h => (h.Output!, Keep(OrtValue.CreateTensorValueFromMemory(new float[(long)B * S * h.Dim], [B, S, h.Dim])))).ToList();
        var injections = new List<(string, OrtValue)>();
        foreach (var h in manifest.Hooks)
        {
            var inj = h.Injection ?? throw new InvalidOperationException("the hooked export has no injection inputs");
            injections.Add((inj.Scale, Keep(OrtValue.CreateTensorValueFromMemory(new[] { 1f }, [1, 1, 1]))));
            injections.Add((inj.Shift, Keep(OrtValue.CreateTensorValueFromMemory(new float[h.Dim], [1, 1, h.Dim]))));
            if (inj.Proj is null || inj.ProjMask is null) continue;  // the MLP hook takes scale and shift only
            injections.Add((inj.Proj, Keep(OrtValue.CreateTensorValueFromMemory(new float[h.Dim], [1, 1, h.Dim]))));
            injections.Add((inj.ProjMask, Keep(OrtValue.CreateTensorValueFromMemory(new[] { 1f }, [1, 1, 1]))));
        }

        OrtIoBinding Bind(InferenceSession sess, IEnumerable<(string, OrtValue)> inputs, IEnumerable<(string, OrtValue)> outputs)
        {
            var bnd = sess.CreateIoBinding();
            disposables.Add(bnd);
            foreach (var (n, v) in inputs) bnd.BindInput(n, v);
            foreach (var (n, v) in outputs) bnd.BindOutput(n, v);
            return bnd;
        }
        var logitsOnly = new[] { ("logits", logitsValue) };
        var bindA = Bind(plain, common, logitsOnly);
        var bindB = Bind(hook, common, logitsOnly.Concat(hookOutputs));
        var bindC = Bind(hook, common.Concat(injections), logitsOnly);
        var bindD = Bind(hook, common, logitsOnly);
        using var runOptions = new RunOptions();
        Func<double> Timed(InferenceSession sess, OrtIoBinding bnd) => () =>
        {
            var t = Stopwatch.StartNew();
            sess.RunWithBinding(runOptions, bnd);
            return t.Elapsed.TotalMilliseconds;
        };

        var variants = new List<Variant>
        {
            new("a", "plain graph, logits", Timed(plain, bindA)),
            new("b", $"hooked graph, logits + all {hooks.Count} hook outputs", Timed(hook, bindB)),
            new("c", $"hooked graph, {injections.Count} no-op injection inputs fed, logits", Timed(hook, bindC)),
        };
        if (o.Defaults) variants.Add(new("d", "hooked graph, defaults (nothing fed), logits", Timed(hook, bindD)));
        var request = new ForwardRequest(idsArr);
        var requestAll = request with { Hooks = ["blocks.*"] };
        if (ms is not null)
        {
            variants.Add(new("f", "ModelSession.Run, hooked export, logits", () => { var t = Stopwatch.StartNew(); ms.Run(request); return t.Elapsed.TotalMilliseconds; }));
            variants.Add(new("g", "ModelSession.Run, hooked export, Hooks = blocks.*", () => { var t = Stopwatch.StartNew(); ms.Run(requestAll); return t.Elapsed.TotalMilliseconds; }));
        }
        variants.Add(new("e", $"MatMul [{mm.M},{mm.K}]x[{mm.K},{mm.N}]", mm.RunMs));

        // Sanity: the hooked graph with no-op injections computes the plain graph's logits.
        var check = new JsonObject();
        {
            variants[0].RunMs();
            var reference = (float[])logits.Clone();
            foreach (var v in variants.Where(v => v.Key is "b" or "c" or "d"))
            {
                v.RunMs();
                float maxDiff = 0;
                for (long i = 0; i < logits.LongLength; i++) maxDiff = MathF.Max(maxDiff, MathF.Abs(logits[i] - reference[i]));
                check[v.Key] = (double)maxDiff;
                Console.WriteLine($"check ({v.Key}) vs (a): max |logits diff| = {maxDiff:G3}");
            }
        }

        var times = variants.ToDictionary(v => v.Key, _ => new List<double>());
        for (int r = -o.Warmup; r < o.Rounds; r++)
        {
            var line = new List<string>();
            int start = ((r % variants.Count) + variants.Count) % variants.Count;
            for (int i = 0; i < variants.Count; i++)
            {
                var v = variants[(start + i) % variants.Count];
                // Collect outside the timed region: ModelSession's managed copies would otherwise make later variants pay.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                double t = v.RunMs();
                if (r >= 0) times[v.Key].Add(t);
                line.Add($"{v.Key}={Stats.F(t, 0)}");
            }
            Console.WriteLine($"{(r < 0 ? "warm-up" : "round " + (r + 1)),-8} order {variants[start].Key}..: {string.Join(" ", line.OrderBy(x => x))} ms");
        }

        foreach (var d in disposables) d.Dispose();
        return Report(o, c, variants, times, check, mm.Flops);
    }

    /// <summary>Matmul FLOPs of one forward: 2·(weights used by matmuls)·tokens + 4·B·S²·H·hd·layers for QKᵀ and AV.</summary>
    public static (double MatmulParams, double Flops) ForwardFlops(ModelConfig c, int batch, int seq)
    {
        double d = c.HiddenSize, q = (double)c.NumHeads * c.HeadDim, kv = (double)c.NumKvHeads * c.HeadDim, i = c.IntermediateSize;
        double perLayer = d * q + 2 * d * kv + q * d + 3 * d * i;
        double p = c.NumLayers * perLayer + (double)c.VocabSize * d;
        double tokens = (double)batch * seq;
        double attention = 4.0 * batch * seq * (double)seq * c.NumHeads * c.HeadDim * c.NumLayers;
        return (p, 2 * p * tokens + attention);
    }

    static Summary Report(Options o, ModelConfig c, List<Variant> variants, Dictionary<string, List<double>> times, JsonObject check, double mmFlops)
    {
        var (matmulParams, flops) = ForwardFlops(c, o.Batch, o.Seq);
        var sum = new Summary($"forward: {o.Shape}; batch {o.Batch} x seq {o.Seq}; {o.Rounds} rounds after {o.Warmup} warm-up");
        var j = sum.Json;
        j["verb"] = "forward";
        j["machine"] = MachineState.Json();
        j["config"] = new JsonObject
        {
            ["hidden"] = c.HiddenSize, ["layers"] = c.NumLayers, ["heads"] = c.NumHeads, ["kv_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim, ["mlp"] = c.IntermediateSize, ["vocab"] = c.VocabSize, ["tied"] = c.TieWordEmbeddings,
            ["batch"] = o.Batch, ["seq"] = o.Seq, ["rounds"] = o.Rounds, ["warmup"] = o.Warmup, ["threads"] = o.Threads,
            ["spinning"] = o.Spinning, ["seed"] = o.Seed,
        };
        j["forward_gflop"] = flops / 1e9;
        j["matmul_params"] = matmulParams;
        j["matmul_reference_gflop"] = mmFlops / 1e9;
        j["logits_max_abs_diff_vs_plain"] = check;

        var a = times["a"];
        var ms = new JsonObject();
        foreach (var v in variants)
        {
            var t = times[v.Key];
            ms[v.Key] = Stats.Describe(t);
            ms[v.Key]!["label"] = v.Label;
            sum.Row($"({v.Key}) ms", $"{Stats.F(Stats.Median(t))}", $"min {Stats.F(t.Min())}, max {Stats.F(t.Max())}; {v.Label}");
        }
        j["ms"] = ms;

        var ratios = new JsonObject();
        void Ratio(string key, string baseKey, string note)
        {
            if (!times.ContainsKey(key) || !times.ContainsKey(baseKey)) return;
            sum.Ratio(ratios, $"{key}/{baseKey}", $"({key})/({baseKey})", times[key], times[baseKey], 3, note);
        }
        Ratio("b", "a", "cost of fetching every hook output");
        Ratio("c", "a", "cost of the injection sub-graphs, fed explicitly");
        Ratio("d", "a", "cost of the injection sub-graphs, defaults");
        Ratio("f", "d", "ModelSession overhead (input checks, managed logits copy)");
        Ratio("g", "b", "ModelSession overhead with every hook copied out");
        Ratio("f", "a", "ModelSession logits vs plain graph");
        j["ratios"] = ratios;

        var fwdRate = a.Select(t => flops / (t * 1e6)).ToList();
        var mmRate = times["e"].Select(t => mmFlops / (t * 1e6)).ToList();
        var pct = fwdRate.Zip(mmRate, (x, y) => 100 * x / y).ToList();
        j["gflops"] = new JsonObject { ["forward_a"] = Stats.Describe(fwdRate), ["matmul_e"] = Stats.Describe(mmRate), ["forward_pct_of_matmul"] = Stats.Describe(pct) };
        sum.Row("forward GFLOP/s (a)", Stats.F(Stats.Median(fwdRate)), $"min {Stats.F(fwdRate.Min())}, max {Stats.F(fwdRate.Max())}; {Stats.F(flops / 1e9)} GFLOP per forward");
        sum.Row("MatMul GFLOP/s (e)", Stats.F(Stats.Median(mmRate)), $"min {Stats.F(mmRate.Min())}, max {Stats.F(mmRate.Max())}; {Stats.F(mmFlops / 1e9)} GFLOP per MatMul");
        sum.Row("(a) rate / (e) rate", Stats.F(Stats.Median(pct)) + " %", $"min {Stats.F(pct.Min())}, max {Stats.F(pct.Max())}; median of per-round ratios");
        foreach (var (k, v) in check) sum.Row($"max |dlogits| ({k})", $"{(double)v!:G3}", "vs (a), after warm-up");
        sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
        return sum;
    }

    internal static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.Error.WriteLine($"could not delete {dir}: {e.Message}"); }
    }
}
