using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Comparison;
using OnnxInterp.Data;

namespace OnnxInterp.Cli.Commands;

static class TruthCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s), checkpoint or exported folders; repeat for several." };
        var shared = new ComparisonOptions(only: false);
        shared.Datasets.Aliases.Add("--dataset");
        shared.Datasets.Description = "Statement CSVs (statement,label[,…]) or synthetic:<name>; repeat or comma-separate. Default: every synthetic statement dataset.";
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out", "-o")
        {
            Description = "Report folder: report.md, report.html, results.json with the \"truth\" section, figures/truth_probe_accuracy_*.png; truth.json and truth.md in data/truth/.",
            Required = true,
        };
        var layer = new Option<int?>("--layer") { Description = "Probe layer; default: the base model's best layer by mass-mean accuracy (--preset paper: config.ini's probe_layer)." };
        var interventionDataset = new Option<string?>("--intervention-dataset") { Description = "Dataset whose few-shot prompts are intervened on; default: the first with few-shot examples (--preset paper: cities)." };
        var first = new Option<int?>("--intervention-first-layer") { Description = "First layer the direction is added at; default: probe layer − 4 (--preset paper: config.ini's intervene_layer)." };
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
            few-shot prompts (intervention effects, Table 3). Checkpoints are exported on demand (cached). Writes the "truth"
            section of results.json and the report; resumes like `compare`. --preset paper runs the paper's code instead:
            config.ini's layers per model, probes trained on sp_en_trans, animal_class, inventors, element_symb, facts and
            tested on the other datasets, the intervention on cities with the paper's seeded few-shot prompts.

            Examples:
              onnxinterp truth --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --out ./truth
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --datasets synthetic:cities --datasets synthetic:animal_class --layer 3 --out ./t
              onnxinterp truth --base ./base-onnx --post ./instruct-onnx --reading judgement --max-statements 200 --out ./t
              onnxinterp truth --base ./llama8b --post ./llama8b-it --datasets ../shared/datasets/paper/cities.csv --datasets ../shared/datasets/paper/sp_en_trans.csv --max-intervention-statements 200 --out ./t
              onnxinterp truth --preset paper --base ./llama8b --post ./llama8b-it --datasets ../shared/datasets/paper/cities.csv,../shared/datasets/paper/sp_en_trans.csv,../shared/datasets/paper/animal_class.csv,../shared/datasets/paper/inventors.csv,../shared/datasets/paper/element_symb.csv,../shared/datasets/paper/facts.csv --out ./t
            """)
        { baseDir, post, worldSeed, output, layer, reading, maxPerDataset, interventionDataset, first, last, scale, maxStatements, noIntervention, noLogistic };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            // The options given on the command line, over --config and under --set.
            var options = new JsonObject();
            void Given<T>(Option<T> option, string key, Func<T, JsonNode?> value)
            {
                if (parse.GetResult(option) is { Implicit: false }) options[key] = value(parse.GetValue(option)!);
            }
            Given(layer, "layer", v => v);
            Given(reading, "reading", v => v == "judgement" ? "Judgement" : "Statement");
            Given(maxPerDataset, "maxStatementsPerDataset", v => v);
            Given(noLogistic, "logistic", v => !v);
            Given(noIntervention, "intervene", v => !v);
            Given(interventionDataset, "interventionDataset", v => v);
            Given(first, "interventionFirstLayer", v => v);
            Given(last, "interventionLastLayer", v => v);
            Given(scale, "interventionScale", v => v);
            Given(maxStatements, "maxInterventionStatements", v => v);
            var layerConfig = new JsonObject { ["truth"] = options };
            if (parse.GetResult(worldSeed) is { Implicit: false }) layerConfig["worldSeed"] = parse.GetValue(worldSeed);
            // Without --datasets (or datasets in --config/--set): every synthetic statement dataset.
            var start = new ComparisonConfig { Datasets = SyntheticWorld.StatementDatasets.Select(n => "synthetic:" + n).ToList() };

            var request = new ComparisonRequest
            {
                Models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post)),
                OutputDirectory = parse.GetValue(output)!,
                Config = shared.Build(parse, start, layerConfig) with { Analyses = ["truth"] },
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp truthfulness",
            };
            var outcome = ComparisonCli.Run(ctx, request, cancellation);
            Print(ctx.Out, outcome.Results["truth"]!, outcome.Results["config"]?["truth"]?["intervene"]?.GetValue<bool>() ?? true);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>The probe layer and each model's probe accuracies, from the results.json section.</summary>
    static void Print(TextWriter o, JsonNode section, bool intervene)
    {
        static string F(JsonNode? v) => v!.GetValue<double>().ToString("F3", CultureInfo.InvariantCulture);
        int probeLayer = section["probeLayer"]!.GetValue<int>();
        o.WriteLine($"protocol {section["protocol"]?.GetValue<string>().ToLowerInvariant() ?? "default"}; probe layer {probeLayer} ({section["evaluation"]})");
        foreach (var p in section["probes"]!.AsArray())
            o.WriteLine($"  {p!["model"],-20} best layer {p["bestLayer"]}: mass-mean {F(p["bestAccuracy"])}; at layer {probeLayer}: mass-mean {F(p["accuracy"])}" +
                (p["logisticAccuracy"] is { } lr ? $", logistic {F(lr)}" : ""));
        if (intervene && section["intervention"] is null) o.WriteLine("  no dataset has few-shot examples: intervention skipped");
    }
}
