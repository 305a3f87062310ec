using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
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
        bool Isolate = false, IReadOnlyList<string>? Only = null, ExecutionProviderKind Provider = ExecutionProviderKind.Cpu);

    /// <summary>One timed thing: a run (its wall time in ms) and, for a forward, the logits it wrote.</summary>
    sealed record Variant(string Key, string Label, Func<double> RunMs, Func<float[]>? Logits = null);

    public const string ChildVerb = "__forward-child";

    public static readonly string[] AllKeys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];

    public static Summary Run(Options o, IReadOnlyList<string> childArgs)
    {
        var s = o.Shape;
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"forward: {s}; batch {o.Batch} x seq {o.Seq}; {o.Warmup} warm-up + {o.Rounds} rounds; " +
                          $"{(o.Isolate ? "each variant in its own process" : "all variants in this process")}; folder {root}");
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
            ModelExporter.Export(Path.Combine(root, "hf"), hookDir, new ExportOptions { HashSource = false });
            Console.WriteLine($"exported plain + hooked in {Stats.F(sw.Elapsed.TotalSeconds)} s");
            var keys = Keys(o);
            var variants = new List<Variant>();
            var disposables = new List<IDisposable>();
            try
            {
                if (o.Isolate)
                {
                    foreach (var k in keys)
                    {
                        var child = new ChildVariant(k, root, plainDir, hookDir, childArgs);
                        disposables.Add(child);
                        variants.Add(child.Variant);
                    }
                }
                else
                {
                    var setup = new Setup(o, plainDir, hookDir);
                    disposables.Add(setup);
                    variants.AddRange(keys.Select(setup.Make));
                }
                return Measure(o, config, variants);
            }
            finally
            {
                foreach (var d in disposables) d.Dispose();
            }
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else TryDelete(root);
        }
    }

    static List<string> Keys(Options o)
    {
        var keys = AllKeys.Where(k => (o.Defaults || k != "d") && (o.Session || k is not ("f" or "g" or "h" or "i" or "j"))).ToList();
        if (o.Only is { Count: > 0 } only)
        {
            foreach (var k in only) if (!AllKeys.Contains(k)) throw new UsageException($"--only: unknown variant '{k}' (one of {string.Join(",", AllKeys)})");
            keys = keys.Where(only.Contains).ToList();
        }
        if (!keys.Contains("a")) keys.Insert(0, "a");  // the baseline of every ratio
        return keys;
    }

    /// <summary>
    /// The sessions, inputs and bindings the variants use, each made on first use: in one process for all variants, or
    /// in a child process for one.
    /// </summary>
    sealed class Setup : IDisposable
    {
        readonly Options _o;
        readonly string _plainDir, _hookDir;
        readonly ModelManifest _manifest;
        readonly ModelConfig _c;
        readonly SessionOptions _opts;
        readonly List<IDisposable> _disposables = [];
        readonly RunOptions _runOptions = new();
        readonly Dictionary<string, object> _made = [];
        readonly int[][] _ids;
        readonly List<(string, OrtValue)> _common = [];
        readonly float[] _logits;
        readonly OrtValue _logitsValue;

        public Setup(Options o, string plainDir, string hookDir)
        {
            _o = o;
            _plainDir = plainDir;
            _hookDir = hookDir;
            _manifest = ModelManifest.Read(hookDir);
            _c = _manifest.Config;
            _opts = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                // The hooked graph's injection defaults are initializers that share an input's name; ORT warns once per input.
                LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            };
            _disposables.Add(_opts);
            _disposables.Add(_runOptions);
            if (o.Threads > 0) _opts.IntraOpNumThreads = o.Threads;
            // As ModelSession does: idle spinning pools of the other sessions would steal the cores (ORT-NOTES).
            if (!o.Spinning) _opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            // --provider cuda: the raw sessions and the MatMul ceiling run on CUDA too; a missing library fails here, named.
            ExecutionProviders.Append(_opts, new SessionConfig { Provider = o.Provider }, warn: null);

            // Inputs, allocated once.
            int B = o.Batch, S = o.Seq;
            var rng = new SplitMix64(o.Seed + 2);
            _ids = new int[B][];
            var ids = new long[B * S];
            for (int b = 0; b < B; b++)
            {
                _ids[b] = new int[S];
                for (int t = 0; t < S; t++) ids[b * S + t] = _ids[b][t] = (int)(rng.Next() % (ulong)_c.VocabSize);
            }
            var pos = new long[B * S];
            for (int i = 0; i < pos.Length; i++) pos[i] = i % S;
            _common.Add(("input_ids", Keep(OrtValue.CreateTensorValueFromMemory(ids, [B, S]))));
            _common.Add(("attention_mask", Keep(OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, B * S).ToArray(), [B, S]))));
            _common.Add(("position_ids", Keep(OrtValue.CreateTensorValueFromMemory(pos, [B, S]))));
            for (int l = 0; l < _c.NumLayers; l++)
            {
                long[] empty = [B, _c.NumKvHeads, 0, _c.HeadDim];
                _common.Add((DecoderGraph.PastKey(l), Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, empty))));
                _common.Add((DecoderGraph.PastValue(l), Keep(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, empty))));
            }
            _logits = new float[(long)B * S * _c.VocabSize];
            _logitsValue = Keep(OrtValue.CreateTensorValueFromMemory(_logits, [B, S, _c.VocabSize]));
        }

        T Keep<T>(T d) where T : IDisposable { _disposables.Add(d); return d; }

        T Once<T>(string key, Func<T> make) where T : class
        {
            if (_made.TryGetValue(key, out var v)) return (T)v;
            var t = make();
            _made[key] = t;
            if (t is IDisposable d) _disposables.Add(d);
            return t;
        }

        InferenceSession Plain => Once("plain", () => new InferenceSession(Path.Combine(_plainDir, ModelExporter.ModelFile), _opts));
        InferenceSession Hooked => Once("hooked", () => new InferenceSession(Path.Combine(_hookDir, ModelExporter.ModelFile), _opts));
        ModelSession Session => Once("ms", () => ModelSession.Open(_hookDir, new SessionConfig { Threads = _o.Threads, Provider = _o.Provider }));
        ModelSession LibraryFullHead => Once("ms-full-head", () => ModelSession.Open(_hookDir, new SessionConfig { Threads = _o.Threads, Provider = _o.Provider, LogitsInGraph = false }));
        ModelSession LibraryHooked => Once("ms-hooked", () => ModelSession.Open(_hookDir, new SessionConfig { Threads = _o.Threads, Provider = _o.Provider, PlainWhenUnhooked = false }));

        List<ManifestHook> HookList => _manifest.Hooks.Where(h => h.Output is not null).ToList();

        List<(string, OrtValue)> HookOutputs => Once("hook-outputs", () => HookList
            .Select(h => (h.Output!, Keep(OrtValue.CreateTensorValueFromMemory(new float[(long)_o.Batch * _o.Seq * h.Dim], [_o.Batch, _o.Seq, h.Dim])))).ToList());

        List<(string, OrtValue)> Injections => Once("injections", () =>
        {
            var list = new List<(string, OrtValue)>();
            foreach (var h in _manifest.Hooks)
            {
                var inj = h.Injection ?? throw new InvalidOperationException("the hooked export has no injection inputs");
                list.Add((inj.Scale, Keep(OrtValue.CreateTensorValueFromMemory(new[] { 1f }, [1, 1, 1]))));
                list.Add((inj.Shift, Keep(OrtValue.CreateTensorValueFromMemory(new float[h.Dim], [1, 1, h.Dim]))));
                if (inj.Proj is null || inj.ProjMask is null) continue;  // the MLP hook takes scale and shift only
                list.Add((inj.Proj, Keep(OrtValue.CreateTensorValueFromMemory(new float[h.Dim], [1, 1, h.Dim]))));
                list.Add((inj.ProjMask, Keep(OrtValue.CreateTensorValueFromMemory(new[] { 1f }, [1, 1, 1]))));
            }
            return list;
        });

        OrtIoBinding Bind(InferenceSession sess, IEnumerable<(string, OrtValue)> inputs, IEnumerable<(string, OrtValue)> outputs)
        {
            var bnd = Keep(sess.CreateIoBinding());
            foreach (var (n, v) in inputs) bnd.BindInput(n, v);
            foreach (var (n, v) in outputs) bnd.BindOutput(n, v);
            return bnd;
        }

        Func<double> Timed(InferenceSession sess, OrtIoBinding bnd) => () =>
        {
            var t = Stopwatch.StartNew();
            sess.RunWithBinding(_runOptions, bnd);
            return t.Elapsed.TotalMilliseconds;
        };

        Variant Library(string key, string label, ModelSession ms, ForwardRequest request)
        {
            float[]? last = null;
            return new(key, label, () =>
            {
                var t = Stopwatch.StartNew();
                var r = ms.Run(request);
                double elapsed = t.Elapsed.TotalMilliseconds;
                last = r.Logits.Data;
                return elapsed;
            }, () => last ?? throw new InvalidOperationException("not run yet"));
        }

        public Variant Make(string key)
        {
            var logitsOnly = new[] { ("logits", _logitsValue) };
            var request = new ForwardRequest(_ids);
            // The truth and capture path: every layer's residual stream at the last token, and the last token's logits.
            var lastToken = request with { Hooks = ["blocks.*.hook_resid_post"], CapturePositions = [-1], LogitPositions = [-1] };
            switch (key)
            {
                case "a": return new("a", "plain graph, logits", Timed(Plain, Bind(Plain, _common, logitsOnly)), () => _logits);
                case "b": return new("b", $"hooked graph, logits + all {HookList.Count} hook outputs", Timed(Hooked, Bind(Hooked, _common, logitsOnly.Concat(HookOutputs))), () => _logits);
                case "c": return new("c", $"hooked graph, {Injections.Count} no-op injection inputs fed, logits", Timed(Hooked, Bind(Hooked, _common.Concat(Injections), logitsOnly)), () => _logits);
                case "d": return new("d", "hooked graph, defaults (nothing fed), logits", Timed(Hooked, Bind(Hooked, _common, logitsOnly)), () => _logits);
                case "e":
                    {
                        var mm = Once("mm", () => new MatMulReference(_o.MatMul.M, _o.MatMul.K, _o.MatMul.N, _opts, _o.Seed + 1));
                        return new("e", $"MatMul [{mm.M},{mm.K}]x[{mm.K},{mm.N}]", mm.RunMs);
                    }
                case "f": return Library("f", "ModelSession.Run, hooked export, logits (no hooks asked: runs decode.onnx)", Session, request);
                case "g": return Library("g", "ModelSession.Run, hooked export, Hooks = blocks.*", Session, request with { Hooks = ["blocks.*"] });
                case "h": return Library("h", "ModelSession.Run, resid_post of every layer and logits at the last token (head on the last position)", Session, lastToken);
                case "i": return Library("i", "as (h), LogitsInGraph = false: the head on every position, sliced on the host", LibraryFullHead, lastToken);
                case "j": return Library("j", "as (f), PlainWhenUnhooked = false: model.onnx with its injection sub-graphs", LibraryHooked, request);
                default: throw new UsageException($"unknown variant '{key}'");
            }
        }

        /// <summary>FLOPs of one MatMul of the reference, for the child's report.</summary>
        public double MatMulFlops => 2.0 * _o.MatMul.M * _o.MatMul.K * _o.MatMul.N;

        public void Dispose()
        {
            for (int i = _disposables.Count - 1; i >= 0; i--) _disposables[i].Dispose();
        }
    }

    /// <summary>
    /// A variant in a child process of its own (this executable, <see cref="ChildVerb"/>): it opens only the session that
    /// variant needs and runs once per "run" line on its stdin, answering with the time; "logits PATH" writes its last
    /// logits to PATH for the checks. Idle children wait on stdin, not on a spinning pool.
    /// </summary>
    sealed class ChildVariant : IDisposable
    {
        readonly Process _p;
        readonly string _root;

        public ChildVariant(string key, string root, string plainDir, string hookDir, IReadOnlyList<string> args)
        {
            _root = root;
            var psi = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            psi.FileName = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
            if (Path.GetFileNameWithoutExtension(psi.FileName) == "dotnet") psi.ArgumentList.Add(typeof(ForwardBench).Assembly.Location);
            foreach (var a in new[] { ChildVerb, key, plainDir, hookDir }.Concat(args)) psi.ArgumentList.Add(a);
            _p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the child");
            var ready = Read();
            if (!ready.StartsWith("READY ", StringComparison.Ordinal)) throw new InvalidOperationException($"child {key} did not start: {ready}");
            var parts = ready.Split(' ', 3);
            Variant = new Variant(key, parts[2], () => double.Parse(Ask("run"), CultureInfo.InvariantCulture),
                key == "e" ? null : () =>
                {
                    var path = Path.Combine(_root, $"logits-{key}.bin");
                    Ask("logits " + path);
                    var bytes = File.ReadAllBytes(path);
                    File.Delete(path);
                    return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
                });
            Console.WriteLine($"child {key}: pid {_p.Id}, {parts[2]}");
        }

        public Variant Variant { get; }

        string Read() => _p.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the child ended early (see its stderr)");

        string Ask(string line)
        {
            _p.StandardInput.WriteLine(line);
            _p.StandardInput.Flush();
            var answer = Read();
            return answer.StartsWith("OK ", StringComparison.Ordinal) ? answer[3..] : throw new InvalidOperationException("child: " + answer);
        }

        public void Dispose()
        {
            try { _p.StandardInput.WriteLine("quit"); _p.StandardInput.Flush(); if (!_p.WaitForExit(10000)) _p.Kill(); }
            catch (Exception e) when (e is IOException or InvalidOperationException) { }
            _p.Dispose();
        }
    }

    /// <summary>The child side of <see cref="ChildVariant"/>.</summary>
    public static int Child(string key, string plainDir, string hookDir, Options o)
    {
        using var setup = new Setup(o, plainDir, hookDir);
        var v = setup.Make(key);
        Console.WriteLine($"READY {key} {v.Label}");
        for (string? line; (line = Console.In.ReadLine()) is not null && line != "quit";)
        {
            if (line == "run")
            {
                // As in one process: collect outside the timed region.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Console.WriteLine("OK " + v.RunMs().ToString("R", CultureInfo.InvariantCulture));
            }
            else if (line.StartsWith("logits ", StringComparison.Ordinal) && v.Logits is { } logits)
            {
                File.WriteAllBytes(line[7..], MemoryMarshal.AsBytes(logits().AsSpan()).ToArray());
                Console.WriteLine("OK written");
            }
            else Console.WriteLine("ERROR unknown command " + line);
        }
        return 0;
    }

    static Summary Measure(Options o, ModelConfig c, List<Variant> variants)
    {
        // Sanity: the hooked graph with no-op injections computes the plain graph's logits; the library returns the graph's.
        var check = new JsonObject();
        {
            var reference = new Dictionary<string, float[]>();
            foreach (var v in variants.Where(v => v.Logits is not null))
            {
                v.RunMs();
                reference[v.Key] = (float[])v.Logits!().Clone();
            }
            void Check(string key, string against, int lastOnly)
            {
                if (!reference.TryGetValue(key, out var x) || !reference.TryGetValue(against, out var y)) return;
                int vocab = c.VocabSize;
                float maxDiff = 0;
                if (lastOnly == 0)
                {
                    for (long i = 0; i < x.LongLength; i++) maxDiff = MathF.Max(maxDiff, MathF.Abs(x[i] - y[i]));
                }
                else
                {
                    // x holds the last position's logits per row; y every position's.
                    for (int b = 0; b < o.Batch; b++)
                        for (int t = 0; t < vocab; t++)
                            maxDiff = MathF.Max(maxDiff, MathF.Abs(x[(long)b * vocab + t] - y[((long)b * o.Seq + o.Seq - 1) * vocab + t]));
                }
                check[$"{key}_vs_{against}"] = (double)maxDiff;
                Console.WriteLine($"check ({key}) vs ({against}): max |logits diff| = {maxDiff:G3}");
            }
            foreach (var k in new[] { "b", "c", "d" }) Check(k, "a", 0);
            Check("f", "a", 0);
            Check("j", "d", 0);
            Check("g", "b", 0);
            Check("h", "i", 0);
            Check("h", "f", 1);
        }

        var byKey = variants.ToDictionary(v => v.Key);
        var times = Interleaved.Run(variants.Select(v => v.Key).ToList(), o.Warmup, o.Rounds, k => byKey[k].RunMs());
        return Report(o, c, variants, times, check, 2.0 * o.MatMul.M * o.MatMul.K * o.MatMul.N);
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
            ["spinning"] = o.Spinning, ["seed"] = o.Seed, ["isolate"] = o.Isolate,
        };
        j["forward_gflop"] = flops / 1e9;
        j["matmul_params"] = matmulParams;
        j["matmul_reference_gflop"] = mmFlops / 1e9;
        j["logits_max_abs_diff"] = check;

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
        Ratio("j", "d", "ModelSession overhead over the same graph and fetches (input checks, binding)");
        Ratio("g", "b", "ModelSession overhead with every hook returned (target <= 1.10)");
        Ratio("f", "a", "ModelSession logits vs plain graph (target <= 1.05)");
        Ratio("j", "a", "ModelSession logits on model.onnx vs plain graph");
        Ratio("h", "i", "capture path: head on the last position vs on every position");
        Ratio("h", "a", "capture path vs the plain graph's full forward");
        j["ratios"] = ratios;

        var fwdRate = a.Select(t => flops / (t * 1e6)).ToList();
        if (!times.ContainsKey("e")) { sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end"); return sum; }
        var mmRate = times["e"].Select(t => mmFlops / (t * 1e6)).ToList();
        var pct = fwdRate.Zip(mmRate, (x, y) => 100 * x / y).ToList();
        j["gflops"] = new JsonObject { ["forward_a"] = Stats.Describe(fwdRate), ["matmul_e"] = Stats.Describe(mmRate), ["forward_pct_of_matmul"] = Stats.Describe(pct) };
        sum.Row("forward GFLOP/s (a)", Stats.F(Stats.Median(fwdRate)), $"min {Stats.F(fwdRate.Min())}, max {Stats.F(fwdRate.Max())}; {Stats.F(flops / 1e9)} GFLOP per forward");
        sum.Row("MatMul GFLOP/s (e)", Stats.F(Stats.Median(mmRate)), $"min {Stats.F(mmRate.Min())}, max {Stats.F(mmRate.Max())}; {Stats.F(mmFlops / 1e9)} GFLOP per MatMul");
        sum.Row("(a) rate / (e) rate", Stats.F(Stats.Median(pct)) + " %", $"min {Stats.F(pct.Min())}, max {Stats.F(pct.Max())}; median of per-round ratios");
        foreach (var (k, v) in check) sum.Row($"max |dlogits| ({k.Replace("_vs_", ") vs (")})", $"{(double)v!:G3}", "before the rounds; 0 where the arithmetic is the same");
        sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
        return sum;
    }

    internal static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Console.Error.WriteLine($"could not delete {dir}: {e.Message}"); }
    }
}
