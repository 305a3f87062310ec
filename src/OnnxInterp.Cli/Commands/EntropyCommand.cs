using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class EntropyCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s), checkpoint or exported folders; repeat for several." };
        var dataset = new Option<string?>("--dataset")
        {
            Description = "Statements for the mean ablation and calibration: a statement CSV with the paper's few-shot examples, or " +
                "synthetic:<name> for the built-in world's held-out statements. Without it (and without entropy.dataset in --config or --set) only the weights are analysed.",
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var top = new Option<int>("--top") { Description = "Entropy neurons per model: this many with the smallest LogitVar.", DefaultValueFactory = _ => 10 };
        var percentile = new Option<double>("--percentile") { Description = "Candidates have a w_out norm above this percentile (0-100).", DefaultValueFactory = _ => 75 };
        var maxStatements = new Option<int>("--max-statements") { Description = "Judge at most this many statements.", DefaultValueFactory = _ => 200 };
        var output = new Option<string>("--out", "-o")
        {
            Description = "Report folder: report.md, report.html, results.json with the \"entropy\" section, figures/entropy_neurons_*.png; entropy.json and entropy.md in data/entropy/.",
            Required = true,
        };
        var shared = new ComparisonOptions(datasets: false, only: false);
        var cmd = new Command("entropy", """
            Confidence: entropy neurons of each model's last MLP layer (large w_out norm, small LogitVar: the variance over
            the vocabulary of cos(w_out, unembedding)), compared across models as the paper's Table 14 (overlap, IoU,
            average ratio difference). --preset paper follows the paper's Confidence/IoU.py: the base against each
            post-trained model, the ratio norm/LogitVar its authors' results hold, and for the paper's own models their
            numbers beside ours. With --dataset, also mean-ablates each model's entropy neurons over few-shot judging
            prompts (change in output entropy and final residual norm) and reports the ECE of the TRUE/FALSE answers.
            Checkpoints are exported on demand (cached). Writes the "entropy" section of results.json and the report;
            resumes like `compare`.

            Examples:
              onnxinterp entropy --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --dataset synthetic:cities --out ./report
              onnxinterp entropy --base ./llama8b-hf --post ./llama8b-instruct-hf --top 10 --percentile 75 --out ./r
              onnxinterp entropy --base ./llama8b-hf --post ./llama8b-instruct-hf --preset paper --out ./table14
            """)
        { baseDir, post, dataset, worldSeed, top, percentile, maxStatements, output };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            // The options given on the command line, over --config and under --set.
            var options = new JsonObject();
            var selection = new JsonObject();
            if (parse.GetValue(dataset) is { } spec)
            {
                options["dataset"] = spec;
                options["ablate"] = true;
            }
            if (parse.GetResult(top) is { Implicit: false }) selection["top"] = parse.GetValue(top);
            if (parse.GetResult(percentile) is { Implicit: false }) selection["percentile"] = parse.GetValue(percentile);
            if (selection.Count > 0) options["selection"] = selection;
            if (parse.GetResult(maxStatements) is { Implicit: false }) options["maxStatements"] = parse.GetValue(maxStatements);
            var layer = new JsonObject { ["entropy"] = options };
            if (parse.GetResult(worldSeed) is { Implicit: false }) layer["worldSeed"] = parse.GetValue(worldSeed);
            var config = shared.Build(parse, layer: layer) with { Analyses = ["entropy"] };
            // Weights only unless a dataset or the ablation was asked for somewhere.
            var given = config.AnalysisOptions.GetValueOrDefault("entropy");
            if (given is null || !(given.ContainsKey("dataset") || given.ContainsKey("ablate")))
                config = ComparisonConfig.Merge(config, new JsonObject { ["entropy"] = new JsonObject { ["ablate"] = false } }, null, ComparisonSteps.Names);

            var request = new ComparisonRequest
            {
                Models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post)),
                OutputDirectory = parse.GetValue(output)!,
                Config = config,
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp entropy neurons",
            };
            var outcome = ComparisonCli.Run(ctx, request, cancellation);
            Print(ctx.Out, outcome.Results["entropy"]!);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Each model's entropy neurons, the overlaps and the ablation's headline effects, from the results.json section.</summary>
    static void Print(TextWriter o, JsonNode section)
    {
        static string F(JsonNode? v, string f = "0.000") => v!.GetValue<double>().ToString(f, CultureInfo.InvariantCulture);
        // norm / LogitVar ratios run to thousands, norm / ln LogitVar ones below 1.
        static string R(JsonNode? v) => F(v, Math.Abs(v!.GetValue<double>()) >= 100 ? "0.0" : "0.0000");
        o.WriteLine($"protocol {section["protocol"]}, ratio {section["ratio"]}");
        foreach (var m in section["models"]!.AsArray())
            o.WriteLine($"{m!["model"]}: entropy neurons {string.Join(" ", m["entropyNeurons"]!.AsArray().Select(n => n!["index"]))} " +
                $"(of {m["candidates"]} with norm > {F(m["normThreshold"])})");
        foreach (var x in section["overlaps"]!.AsArray())
        {
            o.WriteLine($"  {x!["a"]} vs {x["b"]}: overlap {x["overlap"]}, IoU {F(x["iou"])}, avg |ratio| diff " +
                $"{(x["meanAbsRatioDiff"] is { } d ? R(d) : "-")} (avg |ratio| {R(x["meanAbsRatio"])})");
            if (x["paper"] is { } p)
                o.WriteLine($"    the authors' results ({p["ratio"]}): overlap {p["overlap"]}, IoU {F(p["iou"])}, avg |ratio| diff " +
                    $"{(p["meanAbsRatioDiff"] is { } pd ? R(pd) : "-")} ({p["source"]})");
        }
        foreach (var a in section["ablations"]?.AsArray() ?? [])
        {
            var all = a!["allAblated"]!;
            o.WriteLine($"{a["model"]}: ECE {F(a["ece"])} (accuracy {F(a["accuracy"])}); ablating all: dH {F(all["entropyChange"], "+0.0000;-0.0000")} " +
                $"(direct {F(all["directEntropyChange"], "+0.0000;-0.0000")}), d|resid| {F(all["residNormChange"], "+0.000;-0.000")}, ECE {F(all["ece"])}");
        }
        foreach (var g in section["signatures"]?.AsArray() ?? [])
        {
            var st = g!["strongest"]!;
            o.WriteLine($"{g["model"]}: {g["selectedWithSignature"]}/{g["selected"]!.AsArray().Count} selected neurons with the entropy-neuron signature, " +
                $"{g["layerWithSignature"]} in the layer; median |dH| {F(g["medianAbsEntropyChange"], "0.00e+0")}, strongest neuron {st["index"]} " +
                $"({F(st["entropyFactor"], "0.0")}x the median, norm z {F(st["normZ"], "+0.00;-0.00")}, ln LogitVar z {F(st["logitVarZ"], "+0.00;-0.00")})");
        }
        if (section["noSelectedNeuronHasSignature"]?.GetValue<bool>() == true)
            o.WriteLine("no selected neuron has the entropy-neuron signature: the overlaps compare noise");
    }
}
