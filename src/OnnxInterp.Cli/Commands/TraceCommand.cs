using System.CommandLine;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Comparison;
using OnnxInterp.Comparison.Steps;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class TraceCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "Exported base model folder.", Required = true };
        var post = new Option<string[]>("--post") { Description = "Exported post-trained model folder(s); repeat for several." };
        var dataset = new Option<string>("--dataset") { Description = "A statement CSV (statement,label[,…]) or synthetic:<name> for the built-in world (e.g. synthetic:cities).", Required = true };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out", "-o") { Description = "Report folder (JSON, CSV, figures/*.png).", Required = true };
        var maxPairs = new Option<int?>("--max-pairs") { Description = "Trace at most this many pairs." };
        var metric = new Option<string>("--metric") { Description = "logit-diff (the paper's), prob-diff or kl.", DefaultValueFactory = _ => "logit-diff" };
        metric.AcceptOnlyFromAmong("logit-diff", "prob-diff", "kl");
        var noTransfer = new Option<bool>("--no-transfer") { Description = "Skip cross-model transfer patching." };
        var preset = new Option<string>("--preset") { Description = "default (OnnxInterp's curation and prompts) or paper (patching_process_data.py's curation, patching.py's prompts, every pair).", DefaultValueFactory = _ => "default" };
        preset.AcceptOnlyFromAmong("default", "paper");
        var cmd = new Command("trace", """
            Knowledge storage and representation: causal tracing between true and false statements that differ only in the
            subject, for each model, and cross-model transfer patching (base -> post and back), with the paper's Table 1.
            Writes knowledge_<dataset>.json, a CSV per matrix, figures/*.png, and results.json with the "knowledge"
            section as `compare` writes it (docs/results-schema.md).

            Examples:
              onnxinterp trace --base ./base-onnx --post ./instruct-onnx --dataset synthetic:cities --out ./report
              onnxinterp trace --base ./llama8b --post ./llama8b-it --dataset ../shared/datasets/paper/cities.csv --max-pairs 50 --out ./r
              onnxinterp trace --base ./llama8b --post ./llama8b-it --dataset ./datasets/cities.csv --preset paper --out ./r
            """)
        { baseDir, post, dataset, worldSeed, output, maxPairs, metric, noTransfer, preset };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dirs = new[] { parse.GetValue(baseDir)! }.Concat(parse.GetValue(post) ?? []).ToList();
            var sessions = new List<ModelSession>();
            try
            {
                foreach (var d in dirs) sessions.Add(ModelSession.Open(d));
                foreach (var s in sessions.Skip(1)) ModelPair.CheckCompatible(sessions[0], s);
                var tokenizer = HfTokenizer.FromDirectory(dirs[0]);
                var (data, fewShot) = LoadDataset(parse.GetValue(dataset)!, parse.GetValue(worldSeed));
                var models = sessions.Select((s, i) => new KnowledgeModel(ModelName(dirs[i], i), s)).ToList();
                var options = new KnowledgeOptions
                {
                    Protocol = parse.GetValue(preset) == "paper" ? AnalysisProtocol.Paper : AnalysisProtocol.Default,
                    MaxPairs = parse.GetValue(maxPairs),
                    Transfer = !parse.GetValue(noTransfer),
                    Metric = parse.GetValue(metric) switch { "prob-diff" => TracingMetric.ProbDiff, "kl" => TracingMetric.KL, _ => TracingMetric.LogitDiff },
                };
                var progress = new Progress<CaptureProgress>(p => ctx.Err.Write($"\rtraced {p.PromptsDone}/{p.Prompts} pairs   "));
                var result = KnowledgeAnalysis.Run(data, tokenizer, models, fewShot, options, progress);
                ctx.Err.WriteLine();
                var outDir = parse.GetValue(output)!;
                KnowledgeReport.Write(outDir, result);
                KnowledgeStep.WriteResults(outDir, result);
                ctx.Out.WriteLine($"{result.Dataset}: {result.Curation.Pairs.Count} pairs curated, {result.Prompts.Count} traced ({result.SubjectTokens} subject, {result.ObjectTokens} object tokens)");
                foreach (var r in result.Comparisons)
                    ctx.Out.WriteLine($"  {r.A,-20} vs {r.B,-20} corr {r.Corr:F3}  max|diff| {r.MaxAbsDiff:F3}  max|diff|_K {r.MaxAbsDiffK:F3}");
                ctx.Out.WriteLine($"report written to {Path.GetFullPath(parse.GetValue(output)!)}");
                return ExitCodes.Ok;
            }
            finally
            {
                foreach (var s in sessions) s.Dispose();
            }
        }));
        return cmd;
    }

    static string ModelName(string dir, int index) =>
        Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')) is { Length: > 0 } n ? n : index == 0 ? "base" : $"post{index}";

    static (StatementDataset Data, IReadOnlyList<(string, bool)> FewShot) LoadDataset(string spec, int seed)
    {
        if (spec.StartsWith("synthetic:", StringComparison.Ordinal))
        {
            var name = spec["synthetic:".Length..];
            if (!SyntheticWorld.StatementDatasets.Contains(name))
                throw new InvalidArgumentException($"unknown synthetic dataset; known: {string.Join(", ", SyntheticWorld.StatementDatasets)}", "--dataset", spec);
            var world = SyntheticWorld.Generate(seed, WorldSize.Family);
            return (world.ToDataset(name, heldOutOnly: false), world.FewShot(name));
        }
        var data = StatementDataset.Read(spec);
        return (data, TracingPrompts.ExamplesFor(data.Name, FewShotSamples.Beside(spec)?.For(data.Name), "--dataset", spec));
    }
}
