using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Export.Hooking;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// The deployment forms on CPU: int4 (MatMulNBits, block 32, accuracy level 4 as the model builder's CPU default)
/// against fp32, and fused (GroupQueryAttention, RotaryEmbedding, SkipSimplifiedLayerNormalization) against our plain
/// ops, all without hook I/O; plus the int4 fused graph after `hook`. Speed: raw sessions over each model.onnx, inputs
/// and outputs bound once, every variant once per round in rotating order, medians of per-round ratios, for a prompt
/// pass and a one-token decode step on a KV cache. Memory: each variant opened and run once in a child process, its
/// peak resident set (VmHWM) against a child that starts ONNX Runtime and loads nothing.
/// </summary>
static class DeployBench
{
    public const string ChildVerb = "__deploy-child";

    public sealed record Options(LlamaShape Shape, int Batch, int Seq, int Past, int Rounds, int Warmup, ulong Seed, int Threads,
        bool Memory, int PollMs, string? TempRoot, bool Keep);

    sealed record Form(string Key, string Label, ExportOptions Export, bool Hook = false);

    static readonly Form[] Forms =
    [
        new("fp32", "fp32, plain ops (baseline)", ExportOptions.Plain with { HashSource = false }),
        new("fp32-fused", "fp32, fused contrib ops", ExportOptions.Plain with { HashSource = false, Fused = true }),
        new("int4", "int4 MatMulNBits b32, plain ops", ExportOptions.Plain with { HashSource = false, Quantization = WeightQuantization.Int4() }),
        new("int4-fused", "int4 MatMulNBits b32, fused (the builder's CPU form)", ExportOptions.Plain with { HashSource = false, Fused = true, Quantization = WeightQuantization.Int4() }),
        new("int4-fused-hooked", "int4 fused after `hook` (hook outputs + injection inputs)", ExportOptions.Plain with { HashSource = false, Fused = true, Quantization = WeightQuantization.Int4() }, Hook: true),
    ];

    public static Summary Run(Options o)
    {
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-deploy-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"deploy: {o.Shape}; prompt {o.Batch} x {o.Seq}, decode {o.Batch} x 1 after {o.Past}; {o.Warmup} warm-up + {o.Rounds} rounds; folder {root}");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var sw = Stopwatch.StartNew();
            var (config, _) = RandomCheckpoint.Write(Path.Combine(root, "hf"), o.Shape, o.Seed, TensorDType.F32);
            var dirs = new Dictionary<string, string>();
            var bytes = new Dictionary<string, long>();
            foreach (var f in Forms)
            {
                var dir = Path.Combine(root, f.Key);
                var r = ModelExporter.Export(Path.Combine(root, "hf"), f.Hook ? dir + "-deployed" : dir, f.Export);
                if (f.Hook) r = HookRewriter.Hook(dir + "-deployed", dir, new HookOptions { HashSource = false });
                dirs[f.Key] = dir;
                bytes[f.Key] = r.DataBytes;
            }
            Console.WriteLine($"checkpoint written and {Forms.Length} forms exported in {Stats.F(sw.Elapsed.TotalSeconds)} s");
            var sum = new Summary($"deploy: {o.Shape}; prompt {o.Batch} x {o.Seq}, decode {o.Batch} x 1 after {o.Past}; {o.Rounds} rounds");
            sum.Json["verb"] = "deploy";
            sum.Json["machine"] = MachineState.Json();
            sum.Json["shape"] = o.Shape.ToString();
            foreach (var f in Forms) sum.Row($"{f.Key}: weights", RandomCheckpoint.Describe(bytes[f.Key]), f.Label);
            Speed(o, config, dirs, sum);
            if (o.Memory) Memory(o, dirs, sum);
            sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
            return sum;
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else ForwardBench.TryDelete(root);
        }
    }

    static SessionOptions SessionOptions(int threads)
    {
        var opts = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        if (threads > 0) opts.IntraOpNumThreads = threads;
        opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return opts;
    }

    /// <summary>One form's session with a prompt pass and a decode step bound once (logits to a fixed buffer, presents to ORT).</summary>
    sealed class Bound : IDisposable
    {
        readonly List<IDisposable> _owned = [];
        readonly InferenceSession _session;
        readonly OrtIoBinding _prompt, _decode;
        readonly RunOptions _run = new();
        public float[] PromptLogits { get; }

        public Bound(string dir, ModelConfig c, Options o, SessionOptions opts)
        {
            _session = new InferenceSession(Path.Combine(dir, ModelExporter.ModelFile), opts);
            var rng = new SplitMix64(o.Seed + 7);
            int B = o.Batch;
            OrtValue Keep(OrtValue v) { _owned.Add(v); return v; }
            OrtIoBinding Bind(int seq, int past, float[] logits)
            {
                var b = _session.CreateIoBinding();
                _owned.Add(b);
                var ids = Enumerable.Range(0, B * seq).Select(_ => (long)(rng.Next() % (ulong)c.VocabSize)).ToArray();
                b.BindInput("input_ids", Keep(OrtValue.CreateTensorValueFromMemory(ids, [B, seq])));
                b.BindInput("attention_mask", Keep(OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, B * (past + seq)).ToArray(), [B, past + seq])));
                b.BindInput("position_ids", Keep(OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, B * seq).Select(i => (long)(past + i % seq)).ToArray(), [B, seq])));
                for (int l = 0; l < c.NumLayers; l++)
                    foreach (var name in new[] { DecoderGraph.PastKey(l), DecoderGraph.PastValue(l) })
                    {
                        var kv = new float[(long)B * c.NumKvHeads * past * c.HeadDim];
                        for (long i = 0; i < kv.LongLength; i++) kv[i] = rng.NextSigned();
                        b.BindInput(name, Keep(OrtValue.CreateTensorValueFromMemory(kv, [B, c.NumKvHeads, past, c.HeadDim])));
                    }
                b.BindOutput("logits", Keep(OrtValue.CreateTensorValueFromMemory(logits, [B, seq, c.VocabSize])));
                for (int l = 0; l < c.NumLayers; l++)
                {
                    b.BindOutputToDevice(DecoderGraph.PresentKey(l), OrtMemoryInfo.DefaultInstance);
                    b.BindOutputToDevice(DecoderGraph.PresentValue(l), OrtMemoryInfo.DefaultInstance);
                }
                return b;
            }
            PromptLogits = new float[(long)B * o.Seq * c.VocabSize];
            _prompt = Bind(o.Seq, 0, PromptLogits);
            _decode = Bind(1, o.Past, new float[(long)B * c.VocabSize]);
        }

        public double Prompt() => Time(_prompt);
        public double Decode() => Time(_decode);

        double Time(OrtIoBinding b)
        {
            var t = Stopwatch.StartNew();
            _session.RunWithBinding(_run, b);
            return t.Elapsed.TotalMilliseconds;
        }

        public void Dispose()
        {
            foreach (var d in _owned) d.Dispose();
            _run.Dispose();
            _session.Dispose();
        }
    }

    static void Speed(Options o, ModelConfig c, Dictionary<string, string> dirs, Summary sum)
    {
        using var opts = SessionOptions(o.Threads);
        var bound = Forms.ToDictionary(f => f.Key, f => new Bound(dirs[f.Key], c, o, opts));
        try
        {
            // Sanity: every form's prompt logits against fp32's (int4 differs by its quantization; fused by rounding).
            foreach (var b in bound.Values) b.Prompt();
            var reference = bound["fp32"].PromptLogits;
            var check = new JsonObject();
            foreach (var f in Forms.Skip(1))
            {
                var x = bound[f.Key].PromptLogits;
                double diff = 0, scale = reference.Max(MathF.Abs);
                for (long i = 0; i < x.LongLength; i++) diff = Math.Max(diff, Math.Abs(x[i] - reference[i]));
                check[f.Key] = diff / scale;
                sum.Row($"{f.Key}: max |dlogits| / max |logits|", Stats.F(diff / scale, 4), "against fp32 plain, prompt pass");
            }
            sum.Json["logits_relative_diff_vs_fp32"] = check;

            foreach (var (phase, run) in new (string, Func<Bound, double>)[] { ("prompt", b => b.Prompt()), ("decode", b => b.Decode()) })
            {
                var times = Forms.ToDictionary(f => f.Key, _ => new List<double>());
                for (int r = -o.Warmup; r < o.Rounds; r++)
                {
                    int start = ((r % Forms.Length) + Forms.Length) % Forms.Length;
                    var line = new List<string>();
                    for (int i = 0; i < Forms.Length; i++)
                    {
                        var f = Forms[(start + i) % Forms.Length];
                        double t = run(bound[f.Key]);
                        if (r >= 0) times[f.Key].Add(t);
                        line.Add($"{f.Key}={Stats.F(t, 1)}");
                    }
                    Console.WriteLine($"{phase} {(r < 0 ? "warm-up" : "round " + (r + 1)),-8}: {string.Join(" ", line)} ms");
                }
                var ms = new JsonObject();
                foreach (var f in Forms)
                {
                    ms[f.Key] = Stats.Describe(times[f.Key]);
                    sum.Row($"{phase} ms: {f.Key}", Stats.F(Stats.Median(times[f.Key]), 2), $"min {Stats.F(times[f.Key].Min(), 2)}, max {Stats.F(times[f.Key].Max(), 2)}");
                }
                var ratios = new JsonObject();
                void Ratio(string a, string b, string note) => sum.Ratio(ratios, $"{a}/{b}", $"{phase}: {a} / {b}", times[a], times[b], 3, note);
                Ratio("int4", "fp32", "int4 vs fp32, plain ops");
                Ratio("int4-fused", "fp32-fused", "int4 vs fp32, fused");
                Ratio("fp32-fused", "fp32", "fused vs plain, fp32");
                Ratio("int4-fused", "int4", "fused vs plain, int4");
                Ratio("int4-fused", "fp32", "the builder's form vs our fp32 export");
                Ratio("int4-fused-hooked", "int4-fused", "cost of hook I/O on the deployed form");
                sum.Json[phase] = new JsonObject { ["ms"] = ms, ["ratios"] = ratios };
            }
        }
        finally
        {
            foreach (var b in bound.Values) b.Dispose();
        }
    }

    static void Memory(Options o, Dictionary<string, string> dirs, Summary sum)
    {
        string[] Args(string dir) => [ChildVerb, dir, o.Batch.ToString(CultureInfo.InvariantCulture), o.Seq.ToString(CultureInfo.InvariantCulture), o.Threads.ToString(CultureInfo.InvariantCulture)];
        var baseline = ExportMemoryBench.RunChild(Args("-"), o.PollMs, []);
        var json = new JsonObject { ["baseline_vmhwm_bytes"] = baseline.SelfHwmKb * 1024 };
        sum.Row("memory: baseline child", RandomCheckpoint.Describe(baseline.SelfHwmKb * 1024), "ORT started, no model (VmHWM)");
        var peaks = new Dictionary<string, long>();
        foreach (var f in Forms)
        {
            var r = ExportMemoryBench.RunChild(Args(dirs[f.Key]), o.PollMs, []);
            peaks[f.Key] = (r.SelfHwmKb - baseline.SelfHwmKb) * 1024;
            json[f.Key] = new JsonObject { ["vmhwm_bytes"] = r.SelfHwmKb * 1024, ["above_baseline_bytes"] = peaks[f.Key], ["polled"] = r.Polled.Json() };
            sum.Row($"memory: {f.Key}", RandomCheckpoint.Describe(peaks[f.Key]),
                $"peak RSS above baseline (open + one prompt pass); polled max anon {RandomCheckpoint.Describe(r.Polled.MaxAnonKb * 1024)}, file {RandomCheckpoint.Describe(r.Polled.MaxFileKb * 1024)}");
        }
        foreach (var (a, b) in new[] { ("int4", "fp32"), ("int4-fused", "fp32-fused"), ("fp32-fused", "fp32"), ("int4-fused", "fp32"), ("int4-fused-hooked", "int4-fused") })
            sum.Row($"memory: {a} / {b}", Stats.F((double)peaks[a] / peaks[b], 3), "peak RSS above baseline");
        sum.Json["memory"] = json;
    }

    /// <summary>The child: open the form's session and run one prompt pass ("-": start ORT only), then print VmHWM.</summary>
    public static int Child(IReadOnlyList<string> args)
    {
        string dir = args[0];
        int batch = int.Parse(args[1], CultureInfo.InvariantCulture), seq = int.Parse(args[2], CultureInfo.InvariantCulture), threads = int.Parse(args[3], CultureInfo.InvariantCulture);
        using var opts = SessionOptions(threads);
        if (dir != "-")
        {
            var manifest = ModelManifest.Read(dir);
            var c = manifest.Config;
            using var session = new InferenceSession(Path.Combine(dir, manifest.ModelFile), opts);
            var inputs = new Dictionary<string, OrtValue>
            {
                ["input_ids"] = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, batch * seq).Select(i => (long)(i % c.VocabSize)).ToArray(), [batch, seq]),
                ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, batch * seq).ToArray(), [batch, seq]),
                ["position_ids"] = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, batch * seq).Select(i => (long)(i % seq)).ToArray(), [batch, seq]),
            };
            for (int l = 0; l < c.NumLayers; l++)
                foreach (var name in new[] { DecoderGraph.PastKey(l), DecoderGraph.PastValue(l) })
                    inputs[name] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [batch, c.NumKvHeads, 0, c.HeadDim]);
            using var results = session.Run(new RunOptions(), inputs.Keys.ToList(), inputs.Values.ToList(), ["logits"]);
            foreach (var v in inputs.Values) v.Dispose();
        }
        return ExportMemoryBench.PrintResult();
    }
}
