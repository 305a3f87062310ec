using System.CommandLine;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class TruthCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "Exported base model folder.", Required = true };
        var post = new Option<string[]>("--post") { Description = "Exported post-trained model folder(s); repeat for several." };
        var datasets = new Option<string[]>("--datasets", "--dataset")
        {
            Description = "Statement CSVs (statement,label[,…]) or synthetic:<name>; repeat for several. Default: every synthetic statement dataset.",
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out", "-o") { Description = "Report folder (truth.json, truth.md, figures/*.png).", Required = true };
        var layer = new Option<int?>("--layer") { Description = "Probe layer; default: the base model's best layer by mass-mean accuracy." };
        var interventionDataset = new Option<string?>("--intervention-dataset") { Description = "Dataset whose few-shot prompts are intervened on; default: the first with few-shot examples." };
        var first = new Option<int?>("--intervention-first-layer") { Description = "First layer the direction is added at; default: probe layer − 4." };
        var last = new Option<int?>("--intervention-last-layer") { Description = "Last layer the direction is added at; default: the probe layer." };
        var scale = new Option<double>("--intervention-scale") { Description = "Multiplies the added direction (the paper's coefficient).", DefaultValueFactory = _ => 1.0 };
        var maxStatements = new Option<int?>("--max-intervention-statements") { Description = "Intervene on at most this many true and this many false statements." };
        var noIntervention = new Option<bool>("--no-intervention") { Description = "Skip the intervention (Table 3)." };
        var noLogistic = new Option<bool>("--no-logistic") { Description = "Skip the logistic-regression probe." };
        var reading = new Option<string>("--reading")
        {
            Description = "statement (the paper's: the bare statement's last token; intervene on its last two tokens) or judgement " +
                "(the few-shot prompt's last token; intervene on its last two tokens).",
            DefaultValueFactory = _ => "statement",
        };
        reading.AcceptOnlyFromAmong("statement", "judgement");
        var maxPerDataset = new Option<int?>("--max-statements") { Description = "Use at most this many statements (the first ones) of each dataset." };
        var cmd = new Command("truth", """
            Truthfulness: the truth direction mean(true) - mean(false) of last-token activations per layer, its cosine across
            models, mass-mean and logistic probes (leave-one-dataset-out accuracy), the base probe transferred to each
            post-trained model (the paper's Table 2), and each model's direction added to / subtracted from each model's
            few-shot prompts (intervention effects, Table 3).

            Examples:
              onnxinterp truth --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --out ./truth
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --datasets synthetic:cities --datasets synthetic:animal_class --layer 3 --out ./t
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --reading judgement --max-statements 200 --out ./t
              onnxinterp truth --base ./llama8b --post ./llama8b-it --datasets ../shared/datasets/paper/cities.csv --datasets ../shared/datasets/paper/sp_en_trans.csv --max-intervention-statements 200 --out ./t
            """)
        { baseDir, post, datasets, worldSeed, output, layer, reading, maxPerDataset, interventionDataset, first, last, scale, maxStatements, noIntervention, noLogistic };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dirs = new[] { parse.GetValue(baseDir)! }.Concat(parse.GetValue(post) ?? []).ToList();
            var specs = parse.GetValue(datasets) is { Length: > 0 } given ? given : SyntheticWorld.StatementDatasets.Select(n => "synthetic:" + n).ToArray();
            var data = Load(specs, parse.GetValue(worldSeed));
            var sessions = new List<ModelSession>();
            try
            {
                foreach (var d in dirs) sessions.Add(ModelSession.Open(d));
                var tokenizer = HfTokenizer.FromDirectory(dirs[0]);
                var names = dirs.Select(ModelName).ToList();
                if (names.Distinct().Count() != names.Count) names = names.Select((n, i) => i == 0 ? "base" : $"post{i}").ToList();
                var models = sessions.Select((s, i) => new TruthModel(names[i], s)).ToList();
                var options = new TruthOptions
                {
                    Layer = parse.GetValue(layer),
                    Reading = parse.GetValue(reading) == "judgement" ? TruthReading.Judgement : TruthReading.Statement,
                    MaxStatementsPerDataset = parse.GetValue(maxPerDataset),
                    Logistic = !parse.GetValue(noLogistic),
                    Intervene = !parse.GetValue(noIntervention),
                    InterventionDataset = parse.GetValue(interventionDataset),
                    InterventionFirstLayer = parse.GetValue(first),
                    InterventionLastLayer = parse.GetValue(last),
                    InterventionScale = parse.GetValue(scale),
                    MaxInterventionStatements = parse.GetValue(maxStatements),
                };
                var progress = new Progress<TruthProgress>(p => ctx.Err.Write($"\r{p.Stage}: {p.Done}/{p.Total}          "));
                var result = TruthAnalysis.Run(data, tokenizer, models, options, progress);
                ctx.Err.WriteLine();
                TruthReport.Write(parse.GetValue(output)!, result);
                ctx.Out.WriteLine($"probe layer {result.ProbeLayer} ({result.Evaluation})");
                foreach (var p in result.Probes)
                    ctx.Out.WriteLine($"  {p.Model,-20} best layer {p.BestLayer}: mass-mean {p.At(p.BestLayer).MassMean:F3}; at layer {result.ProbeLayer}: mass-mean {p.At(result.ProbeLayer).MassMean:F3}" +
                        (p.At(result.ProbeLayer).Logistic is double lr ? $", logistic {lr:F3}" : ""));
                if (options.Intervene && result.Intervention is null)
                    ctx.Out.WriteLine("  no dataset has few-shot examples: intervention skipped");
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

    static string ModelName(string dir) => Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'));

    static List<TruthDataset> Load(string[] specs, int seed)
    {
        SyntheticWorld? world = null;
        var result = new List<TruthDataset>();
        foreach (var spec in specs)
        {
            if (spec.StartsWith("synthetic:", StringComparison.Ordinal))
            {
                var name = spec["synthetic:".Length..];
                if (!SyntheticWorld.StatementDatasets.Contains(name))
                    throw new InvalidArgumentException($"unknown synthetic dataset; known: {string.Join(", ", SyntheticWorld.StatementDatasets)}", "--datasets", spec);
                world ??= SyntheticWorld.Generate(seed, WorldSize.Family);
                result.Add(new TruthDataset(world.ToDataset(name), world.FewShot(name)));
                continue;
            }
            var data = StatementDataset.Read(spec);
            var fewShot = TracingPrompts.PaperExamples.TryGetValue(data.Name, out var ex)
                ? ex.True.Select(t => (t, true)).Concat(ex.False.Select(f => (f, false))).ToList()
                : null;
            result.Add(new TruthDataset(data, fewShot));
        }
        return result;
    }
}
