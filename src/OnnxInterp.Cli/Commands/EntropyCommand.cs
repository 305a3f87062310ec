using System.CommandLine;
using System.Globalization;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class EntropyCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "Base model: an exported folder or a Hugging Face checkpoint folder.", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s), exported or checkpoint folders; repeat for several." };
        var dataset = new Option<string?>("--dataset")
        {
            Description = "Statements for the mean ablation and calibration (needs exported folders): a statement CSV with the paper's " +
                "few-shot examples, or synthetic:<name> for the built-in world's held-out statements. Without it only the weights are analysed.",
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var top = new Option<int>("--top") { Description = "Entropy neurons per model: this many with the smallest LogitVar.", DefaultValueFactory = _ => 10 };
        var percentile = new Option<double>("--percentile") { Description = "Candidates have a w_out norm above this percentile (0-100).", DefaultValueFactory = _ => 75 };
        var maxStatements = new Option<int>("--max-statements") { Description = "Judge at most this many statements.", DefaultValueFactory = _ => 200 };
        var output = new Option<string>("--out", "-o") { Description = "Report folder (entropy.json, entropy.md, figures/*.png).", Required = true };
        var cmd = new Command("entropy", """
            Confidence: entropy neurons of each model's last MLP layer (large w_out norm, small LogitVar: the variance over
            the vocabulary of cos(w_out, unembedding)), compared across models as the paper's Table 14 (overlap, IoU,
            |norm/log LogitVar|). With --dataset, also mean-ablates each model's entropy neurons over few-shot judging
            prompts (change in output entropy and final residual norm) and reports the ECE of the TRUE/FALSE answers.

            Examples:
              onnxinterp entropy --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --dataset synthetic:cities --out ./report
              onnxinterp entropy --base ./llama8b-hf --post ./llama8b-instruct-hf --top 10 --percentile 75 --out ./r
            """)
        { baseDir, post, dataset, worldSeed, top, percentile, maxStatements, output };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dirs = new[] { parse.GetValue(baseDir)! }.Concat(parse.GetValue(post) ?? []).ToList();
            var spec = parse.GetValue(dataset);
            var sessions = new List<ModelSession>();
            try
            {
                var models = new List<ConfidenceModel>();
                var used = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < dirs.Count; i++)
                {
                    var weights = LastLayerWeights.Read(dirs[i]);
                    ModelSession? session = null;
                    if (spec is not null)
                    {
                        if (!File.Exists(Path.Combine(dirs[i], ModelManifest.FileName)))
                            throw new InvalidArgumentException("the ablation runs on exported models: export this checkpoint first (onnxinterp export)", "--dataset", dirs[i]);
                        session = ModelSession.Open(dirs[i]);
                        sessions.Add(session);
                        if (sessions.Count > 1) ModelPair.CheckCompatible(sessions[0], session);
                    }
                    var name = ModelName(dirs[i], i);
                    if (!used.Add(name)) name = $"{name}#{i}";
                    models.Add(new ConfidenceModel(name, weights, session));
                }
                ConfidenceData? data = null;
                if (spec is not null)
                {
                    var (set, fewShot) = LoadDataset(spec, parse.GetValue(worldSeed));
                    data = new ConfidenceData(set, fewShot, HfTokenizer.FromDirectory(dirs[0]));
                }
                var options = new ConfidenceOptions
                {
                    Selection = new EntropyNeuronOptions { Top = parse.GetValue(top), Percentile = parse.GetValue(percentile) },
                    MaxStatements = parse.GetValue(maxStatements),
                };
                var progress = new Progress<ConfidenceProgress>(p => { if (p.Stage == "ablation") ctx.Err.Write($"\r{p.Model}: ablated {p.Done}/{p.Total} prompts   "); });
                var result = ConfidenceAnalysis.Run(models, data, options, progress);
                if (data is not null) ctx.Err.WriteLine();
                ConfidenceReport.Write(parse.GetValue(output)!, result);
                Print(ctx.Out, result);
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

    static void Print(TextWriter o, ConfidenceResult r)
    {
        static string F(double v, string f = "0.000") => v.ToString(f, CultureInfo.InvariantCulture);
        foreach (var m in r.Models)
            o.WriteLine($"{m.Model}: entropy neurons {string.Join(" ", m.Indices)} (of {m.Candidates} with norm > {F(m.NormThreshold)})");
        foreach (var x in r.Overlaps)
            o.WriteLine($"  {x.A} vs {x.B}: overlap {x.Overlap}, IoU {F(x.Iou)}, avg |ratio| diff {(x.MeanAbsRatioDiff is { } d ? F(d, "0.0000") : "-")} (avg |ratio| {F(x.MeanAbsRatio, "0.0000")})");
        foreach (var a in r.Ablations ?? [])
        {
            var all = a.Rows[^1];
            o.WriteLine($"{a.Model}: ECE {F(a.Calibration.Ece)} (accuracy {F(a.Calibration.Accuracy)}); ablating {all.Label}: dH {F(all.EntropyChange, "+0.0000;-0.0000")} " +
                $"(direct {F(all.DirectEntropyChange, "+0.0000;-0.0000")}), d|resid| {F(all.ResidNormChange, "+0.000;-0.000")}, ECE {F(all.Calibration.Ece)}");
        }
    }

    static string ModelName(string dir, int index) =>
        Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')) is { Length: > 0 } n ? n : index == 0 ? "base" : $"post{index}";

    /// <summary>A CSV with the paper's few-shot examples, or synthetic:{name}: the world's held-out statements (never judged in training).</summary>
    static (StatementDataset Data, IReadOnlyList<(string, bool)> FewShot) LoadDataset(string spec, int seed)
    {
        if (spec.StartsWith("synthetic:", StringComparison.Ordinal))
        {
            var name = spec["synthetic:".Length..];
            if (!SyntheticWorld.StatementDatasets.Contains(name))
                throw new InvalidArgumentException($"unknown synthetic dataset; known: {string.Join(", ", SyntheticWorld.StatementDatasets)}", "--dataset", spec);
            var world = SyntheticWorld.Generate(seed, WorldSize.Family);
            return (world.ToDataset(name, heldOutOnly: true), world.FewShot(name));
        }
        var data = StatementDataset.Read(spec);
        if (!TracingPrompts.PaperExamples.TryGetValue(data.Name, out var ex))
            throw new InvalidArgumentException($"no few-shot examples for this dataset; known: {string.Join(", ", TracingPrompts.PaperExamples.Keys)}", "--dataset", data.Name);
        return (data, ex.True.Select(t => (t, true)).Concat(ex.False.Select(f => (f, false))).ToList());
    }
}
