using System.Diagnostics;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// The model diff's cost per prompt against a plain forward pass of both models over the same batches, in one run,
/// variants interleaved per round: the forward baseline (logits only, what a library user pays for next-token
/// predictions), the capture of every resid_post, the diff without the lens, with the logit lens, with the cross-model
/// lens too, and with everything (principal directions and steered generations). Corpus: the step's default one (harmful and harmless
/// instructions of the synthetic world in the post model's chat template, few-shot judging prompts on held-out cities).
/// </summary>
static class DiffBench
{
    public sealed record Options(string? BaseDir, string? PostDir, string? Tokenizer, LlamaShape Shape, int Prompts, int BatchSize, int Rounds, int Warmup,
        string? Template, ulong Seed, string? Tmp, bool Keep);

    public static readonly IReadOnlyList<string> Variants = ["forward", "capture", "diff-no-lens", "diff-lens", "diff-cross", "diff-full"];

    public static Summary Run(Options o)
    {
        string root = Path.Combine(o.Tmp ?? Path.GetTempPath(), "onnxinterp-diff-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            string described;
            string baseDir, postDir;
            if (o.BaseDir is { } b && o.PostDir is { } p)
            {
                (baseDir, postDir) = (Exported(b, Path.Combine(root, "base")), Exported(p, Path.Combine(root, "post")));
                described = $"{b} vs {p}";
            }
            else
            {
                if (o.Tokenizer is null) throw new UsageException("diff: give --base and --post, or --tokenizer DIR for a random pair");
                var s = o.Shape;
                foreach (var (name, seed) in new[] { ("base", (int)o.Seed), ("post", (int)o.Seed + 1) })
                {
                    var watch = Stopwatch.StartNew();
                    OnnxInterp.Checkpoints.RandomCheckpoint.Write(Path.Combine(root, name + "-hf"), new RandomCheckpointSpec
                    {
                        HiddenSize = s.Hidden, IntermediateSize = s.Mlp, Layers = s.Layers, Heads = s.Heads, KvHeads = s.KvHeads,
                        VocabSize = s.Vocab, DType = TensorDType.BF16, Seed = seed, TokenizerDirectory = o.Tokenizer,
                    });
                    ModelExporter.Export(Path.Combine(root, name + "-hf"), Path.Combine(root, name), new ExportOptions { HashSource = false });
                    Directory.Delete(Path.Combine(root, name + "-hf"), recursive: true);
                    Console.WriteLine($"wrote and exported the random {name} in {watch.Elapsed.TotalSeconds:F0} s");
                }
                (baseDir, postDir) = (Path.Combine(root, "base"), Path.Combine(root, "post"));
                described = $"random pair, {s} (bf16 source, fp32 export), tokenizer {Path.GetFileName(o.Tokenizer.TrimEnd('/'))}";
            }

            using var baseModel = ModelSession.Open(baseDir);
            using var postModel = ModelSession.Open(postDir);
            var template = o.Template is { } t ? ChatTemplates.Get(t) : postModel.ChatTemplate;
            var world = SyntheticWorld.Generate(1, WorldSize.Family);
            var corpus = DiffCorpus.Instructions(InstructionSet.FromWorld(world), o.Prompts)
                .Concat(DiffCorpus.JudgingPrompts(world.ToDataset("cities", heldOutOnly: true), world.FewShot("cities"), o.Prompts)).ToList();
            var tokenizer = baseModel.Tokenizer;
            var prompts = DiffCorpus.Render(corpus, tokenizer, template, new DiffOptions().MaxTokens);
            int pad = tokenizer.PadTokenId ?? baseModel.Config.PadTokenId ?? 0;
            // The analysis's batches: sorted by length, BatchSize per forward.
            var sorted = prompts.OrderBy(x => x.Length).ThenBy(x => x.Index).ToList();
            var batches = Enumerable.Range(0, (sorted.Count + o.BatchSize - 1) / o.BatchSize)
                .Select(i => ForwardRequest.FromPrompts(sorted.Skip(i * o.BatchSize).Take(o.BatchSize).Select(x => x.Ids).ToList(), pad)).ToList();
            int tokens = prompts.Sum(x => x.Length);

            var options = new Dictionary<string, DiffOptions>
            {
                ["diff-no-lens"] = new() { BatchSize = o.BatchSize, Lens = false, CrossLens = false, Directions = 0 },
                ["diff-lens"] = new() { BatchSize = o.BatchSize, CrossLens = false, Directions = 0 },
                ["diff-cross"] = new() { BatchSize = o.BatchSize, Directions = 0 },
                ["diff-full"] = new() { BatchSize = o.BatchSize },
            };
            var models = (Base: new DiffModel("base", baseModel), Post: new[] { new DiffModel("post", postModel) { Template = template } });
            // CPU time of this process beside wall time: the 2 cores are shared with other work, which stretches wall time but
            // not (much) the CPU time our own threads spend (ORT's pools do not spin: ModelSession sets allow_spinning 0).
            using var self = Process.GetCurrentProcess();
            var cpu = Variants.ToDictionary(k => k, _ => new List<double>());
            double lastCpu = 0;
            double RunMs(string key)
            {
                self.Refresh();
                var cpuBefore = self.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                switch (key)
                {
                    case "forward":
                    case "capture":
                        foreach (var request in batches)
                        {
                            var r = key == "capture" ? request with { Hooks = ["blocks.*.hook_resid_post"] } : request;
                            using var x = baseModel.Run(r);
                            using var y = postModel.Run(r);
                        }
                        break;
                    default:
                        DiffAnalysis.Run(models.Base, models.Post, corpus, options[key] with { }, null);
                        break;
                }
                double wall = sw.Elapsed.TotalMilliseconds / prompts.Count;
                self.Refresh();
                lastCpu = (self.TotalProcessorTime - cpuBefore).TotalMilliseconds / prompts.Count;
                return wall;
            }
            string load = MachineState.LoadAverageShort();
            var ms = Interleaved.Run(Variants, o.Warmup, o.Rounds, RunMs, key => cpu[key].Add(lastCpu));

            var summary = new Summary($"diff: {described}; {prompts.Count} prompts ({o.Prompts} harmful, {o.Prompts} harmless instructions in {template.Name}, " +
                $"{o.Prompts} judging), {tokens} tokens, batches of {o.BatchSize}; {o.Rounds} rounds after {o.Warmup} warm-up");
            foreach (var key in Variants) summary.Row($"{key} ms per prompt", $"{Stats.F(Stats.Median(ms[key]))} ({Stats.F(Stats.Median(cpu[key]))} CPU)", Note(key));
            foreach (var key in Variants.Skip(1))
                summary.Ratio(summary.Json, key.Replace('-', '_') + "_over_forward", $"{key} / forward", ms[key], ms["forward"], 2, "wall time, median of per-round ratios");
            var cpuRatios = new System.Text.Json.Nodes.JsonObject();
            foreach (var key in Variants.Skip(1))
                summary.Ratio(cpuRatios, key.Replace('-', '_') + "_over_forward", $"{key} / forward, CPU time", cpu[key], cpu["forward"], 2, "CPU time of this process, median of per-round ratios");
            summary.Json["cpu_ratios"] = cpuRatios;
            foreach (var (k, v) in cpu) summary.Json[k.Replace('-', '_') + "_cpu_ms_per_prompt"] = Stats.Describe(v);
            summary.Row("peak resident memory", $"{self.PeakWorkingSet64 / 1048576.0:F0} MiB", "this process: both models (model.onnx, decode.onnx, per-layer and head graphs)");
            summary.Row("load average", $"{load} → {MachineState.LoadAverageShort()}", "before → after: the 2 cores are shared, so absolute times move; the ratios are per round");
            foreach (var (k, v) in ms) summary.Json[k.Replace('-', '_') + "_ms_per_prompt"] = Stats.Describe(v);
            summary.Json["machine"] = MachineState.Json();
            summary.Json["prompts"] = prompts.Count;
            summary.Json["tokens"] = tokens;
            return summary;
        }
        finally
        {
            if (!o.Keep && Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    static string Note(string key) => key switch
    {
        "forward" => "baseline: ModelSession.Run of both models, logits at every position, no hooks (decode.onnx)",
        "capture" => "the same passes capturing every layer's resid_post (what the diff reads)",
        "diff-no-lens" => "DiffAnalysis.Run: capture, per-token KL and top-1, activation differences (Lens, CrossLens off, no directions)",
        "diff-lens" => "+ the logit lens of both models (each model's head graph on every layer's residual stream)",
        "diff-cross" => "+ the cross-model lens (each model's residual stream through the other's head graph)",
        _ => "the defaults: + 3 principal directions and 2 prompts × 5 greedy generations of 12 tokens (base, base + each direction, post)",
    };

    /// <summary>An exported folder as is; a checkpoint exported into <paramref name="target"/>.</summary>
    static string Exported(string dir, string target)
    {
        if (File.Exists(Path.Combine(dir, ModelManifest.FileName))) return dir;
        ModelExporter.Export(dir, target, new ExportOptions { HashSource = false });
        return target;
    }
}
