using System.Diagnostics;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// Causal tracing, fast path (shared prefix and the false run's KV cache reused, one batch row per layer, positions
/// before the patch not recomputed) against the paper's loop (one full forward pass per layer and position), on the
/// same model in the same run, interleaved per pair. Prompts have the paper's shape: a few-shot prefix, then the
/// patched statement and question tokens.
/// </summary>
static class TraceBench
{
    public sealed record Options(string? ModelDir, LlamaShape Shape, int Pairs, int Prefix, int Patched, int Rounds, ulong Seed, string? Tmp, bool Keep,
        ExecutionProviderKind Provider = ExecutionProviderKind.Cpu, bool ShareWeights = true);

    public static Summary Run(Options o)
    {
        string root = Path.Combine(o.Tmp ?? Path.GetTempPath(), "onnxinterp-trace-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            string modelDir;
            string described;
            if (o.ModelDir is { } given)
            {
                modelDir = Path.Combine(root, "onnx");
                ModelExporter.Export(given, modelDir, new ExportOptions { HashSource = false });
                described = given;
            }
            else
            {
                var hf = Path.Combine(root, "hf");
                RandomCheckpoint.Write(hf, o.Shape, o.Seed, TensorDType.F32);
                modelDir = Path.Combine(root, "onnx");
                ModelExporter.Export(hf, modelDir, new ExportOptions { HashSource = false });
                described = o.Shape.ToString();
            }
            using var model = ModelSession.Open(modelDir, new SessionConfig { Provider = o.Provider, ShareWeights = o.ShareWeights });
            int vocab = model.Manifest.Config.VocabSize, layers = model.Manifest.Config.NumLayers;
            var rng = new Random((int)o.Seed);
            // The paper's prompt shape: four few-shot lines in a per-pair shuffled order (so pairs share prefixes, as in a
            // real dataset), then the statement and question tokens; three subject tokens differ between true and false.
            int lineLength = Math.Max(1, o.Prefix / 4);
            var lines = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, lineLength).Select(_ => rng.Next(vocab)).ToArray()).ToArray();
            var prompts = Enumerable.Range(0, o.Pairs).Select(_ =>
            {
                rng.Shuffle(lines);
                var prefix = lines.SelectMany(x => x).ToArray();
                var t = prefix.Concat(Enumerable.Range(0, o.Patched).Select(_ => rng.Next(vocab))).ToArray();
                var f = (int[])t.Clone();
                for (int i = prefix.Length; i < prefix.Length + 3; i++) f[i] = rng.Next(vocab);
                var pair = new StatementPair("t", "f", "s", "s'", "o", t[prefix.Length..], f[prefix.Length..], new TokenRole[o.Patched], new string[o.Patched]);
                return new TracingPrompt(pair, t, f, o.Patched, Enumerable.Range(0, o.Patched).Select(i => $"p{i}").ToArray());
            }).ToList();
            var fast = new TracingOptions { TrueToken = 1, FalseToken = 2, Fast = true };
            var naive = fast with { Fast = false };

            // Warm-up and agreement check over every pair.
            var (fastMean, _) = CausalTracing.Run(model, model, prompts, fast);
            var (naiveMean, _) = CausalTracing.Run(model, model, prompts, naive);
            double maxDiff = 0;
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < o.Patched; p++) maxDiff = Math.Max(maxDiff, Math.Abs(fastMean[l, p] - naiveMean[l, p]));

            // The same paths on a session that computes every position's logits and slices them on the host (as before the
            // head ran on the kept positions only): what logits_to_keep saves.
            using var fullHead = ModelSession.Open(modelDir, new SessionConfig { Provider = o.Provider, LogitsInGraph = false, ShareWeights = o.ShareWeights });
            var (fullMean, _) = CausalTracing.Run(fullHead, fullHead, prompts, fast);
            double fullDiff = 0;
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < o.Patched; p++) fullDiff = Math.Max(fullDiff, Math.Abs(fastMean[l, p] - fullMean[l, p]));

            var variants = new (string Key, ModelSession Model, TracingOptions Options)[]
            {
                ("naive", model, naive), ("fast", model, fast), ("naive-full-head", fullHead, naive), ("fast-full-head", fullHead, fast),
            };
            var ms = variants.ToDictionary(v => v.Key, _ => new List<double>());
            for (int round = 0; round < o.Rounds; round++)
            {
                for (int i = 0; i < variants.Length; i++)
                {
                    var v = variants[(round + i) % variants.Length];
                    GC.Collect();
                    var sw = Stopwatch.StartNew();
                    CausalTracing.Run(v.Model, v.Model, prompts, v.Options);
                    ms[v.Key].Add(sw.Elapsed.TotalMilliseconds / prompts.Count);
                }
            }
            static List<double> PerRound(List<double> x, List<double> y) => x.Zip(y, (a, b) => a / b).ToList();
            var ratios = PerRound(ms["naive"], ms["fast"]);

            var s = new Summary($"trace: {described}; {layers} layers; prompts of {4 * lineLength} prefix + {o.Patched} patched tokens (4 shuffled few-shot lines); {o.Pairs} pairs x {o.Rounds} rounds");
            s.Row("naive ms per pair", Stats.F(Stats.Median(ms["naive"])), $"{layers * o.Patched + 2} forward passes of {o.Prefix + o.Patched} tokens (the paper's loop)");
            s.Row("fast ms per pair", Stats.F(Stats.Median(ms["fast"])), model.HasLayerGraphs
                ? $"prefix once (cached across pairs), both suffixes once, then layers k = 1..{layers - 1} on the rows patched below k, positions in chunks, head on the last position"
                : $"prefix once, both suffixes once, then {o.Patched} batches of {layers} rows");
            s.Row("speed-up (naive / fast)", Stats.F(Stats.Median(ratios), 2), $"median of per-round ratios (whole dataset per round); min {Stats.F(ratios.Min(), 2)}, max {Stats.F(ratios.Max(), 2)}");
            foreach (var key in new[] { "naive", "fast" })
            {
                var r = PerRound(ms[key], ms[key + "-full-head"]);
                s.Row($"{key}: kept head / full head", Stats.F(Stats.Median(r), 3),
                    $"min {Stats.F(r.Min(), 3)}, max {Stats.F(r.Max(), 3)}; full head {Stats.F(Stats.Median(ms[key + "-full-head"]))} ms per pair (every position's logits, sliced on the host)");
            }
            s.Row("max |fast − naive|", maxDiff.ToString("E2", System.Globalization.CultureInfo.InvariantCulture), "mean logit difference matrix over the pairs");
            s.Row("max |kept − full head|", fullDiff.ToString("E2", System.Globalization.CultureInfo.InvariantCulture), "fast path; 0: the kept head's logits are the full head's, bit for bit");
            foreach (var (k, v) in ms) s.Json[k.Replace('-', '_') + "_ms"] = Stats.Describe(v);
            s.Json["ratios"] = Stats.Describe(ratios);
            s.Json["share_weights"] = o.ShareWeights;
            using var self = System.Diagnostics.Process.GetCurrentProcess();
            s.Row("peak resident memory", $"{self.PeakWorkingSet64 / 1048576.0:F0} MiB", $"this process (two sessions of the model, each with its per-layer graphs); weights {(o.ShareWeights ? "shared across each model's graphs" : "loaded by every graph (--no-share)")}");
            s.Json["peak_rss_mib"] = self.PeakWorkingSet64 / 1048576.0;
            return s;
        }
        finally
        {
            if (!o.Keep && Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
