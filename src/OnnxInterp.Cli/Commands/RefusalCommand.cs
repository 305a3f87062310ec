using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using OnnxInterp.Comparison;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class RefusalCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "The base model (checkpoint or exported folder; NAME=DIR names it).", Required = true };
        var post = new Option<string[]>("--post") { Description = "Post-trained model(s); repeat for several." };
        var instructions = new Option<string>("--instructions")
        {
            Description = "Harmful/harmless instructions: a CSV (statement,label; label 1 = harmful, as the paper's refusal_train.csv), " +
                "a JSON file ({\"harmful\": [...], \"harmless\": [...]} or [{\"instruction\", \"label\"}]), or synthetic for the built-in world's.",
            DefaultValueFactory = _ => "synthetic",
        };
        var advBench = new Option<string>("--advbench")
        {
            Description = "The paper's harmful instructions: AdvBench's harmful_behaviors.csv (goal column); with --alpaca, instead of --instructions.",
        };
        var alpaca = new Option<string>("--alpaca")
        {
            Description = "The paper's harmless instructions: Alpaca's JSON (a list of {instruction, input, output}, or JSON Lines); those with an empty input are kept.",
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var template = new Option<string[]>("--template")
        {
            Description = $"Chat template per model, in order (base first): {string.Join(", ", ChatTemplates.Names)} or auto. " +
                $"auto (the default) reads \"{ModelChatTemplate.ConfigKey}\" from the folder's tokenizer_config.json, else plain.",
        };
        var layer = new Option<int?>("--layer") { Description = "Layer of the direction for every model (with --position; negative counts from the end, -1 = the last block's input); default: Arditi et al.'s selection per model." };
        var position = new Option<int?>("--position") { Description = "Position of the direction, counted from the end of the prompt (-1 = last token)." };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "Greedy tokens per completion.", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed of the train/validation/test split.", DefaultValueFactory = _ => 42 };
        var maxTest = new Option<int>("--max-test") { Description = "At most this many test instructions per class.", DefaultValueFactory = _ => 100 };
        var coefficient = new Option<float>("--addition-coefficient")
        {
            Description = "Coefficient of activation addition for every model (default: 1, or under --preset paper the paper's per model: 1.2 base, 1.8 SFT, 2.4 instruct; Llama-2 4/5).",
        };
        var subtraction = new Option<bool>("--subtraction") { Description = "Also subtract each direction on the harmful instructions (the paper's third intervention; coefficient 2.2 under --preset paper)." };
        var unit = new Option<bool>("--addition-unit") { Description = "Add coefficient x the unit direction (the paper) instead of x the mean difference (Arditi et al.)." };
        var samples = new Option<int>("--samples") { Description = "Sample completions per table in the report.", DefaultValueFactory = _ => 3 };
        var output = new Option<string>("--out", "-o")
        {
            Description = "Report folder: report.md, report.html, results.json with the \"refusal\" section; refusal.json and refusal.md in data/refusal/.",
            Required = true,
        };
        var shared = new ComparisonOptions(datasets: false, only: false);
        var cmd = new Command("refusal", """
            Refusal: each model's refusal direction (mean difference of resid_pre between harmful and harmless instructions,
            given or selected as Arditi et al. do), then greedy completions of held-out instructions with the direction
            ablated (harmful) or added (harmless), for every model with its own and the other models' directions: the
            paper's Table 4, the cosine similarity of the directions and sample completions. Writes the "refusal" section
            of results.json and the report; resumes like `compare`. With --preset paper, the paper's code setting by
            setting: AdvBench/Alpaca split by train_test_split(0.2, 42), train[:128] and test[:100]; each model's fixed
            layer, position and prompt template; c x the unit direction added at resid_pre, resid_mid and resid_post
            with the paper's coefficients; 16 greedy tokens in batches of 4.

            Examples:
              onnxinterp refusal --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --out ./refusal
              onnxinterp refusal --preset paper --base ./llama-3.1-8b --post ./tulu-3-sft --post ./llama-3.1-8b-instruct --advbench harmful_behaviors.csv --alpaca alpaca_data.json --out ./table4
              onnxinterp refusal --base ./llama8b --post ./llama8b-it --instructions ../shared/datasets/paper/refusal_train.csv --template plain --template llama3 --layer 11 --position -1 --out ./r
            """)
        { baseDir, post, instructions, advBench, alpaca, worldSeed, template, layer, position, maxNewTokens, seed, maxTest, coefficient, unit, subtraction, samples, output };
        shared.AddTo(cmd);
        cmd.SetAction(parse => ctx.Guard(parse, cancellation =>
        {
            var models = ComparisonCli.Models(parse.GetValue(baseDir)!, parse.GetValue(post));
            var templates = parse.GetValue(template) ?? [];
            if (templates.Length > models.Count)
                throw new InvalidArgumentException($"{templates.Length} templates for {models.Count} models", "--template", string.Join(",", templates));

            // The options given on the command line, over --config and under --set.
            var options = new JsonObject();
            void Given<T>(Option<T> option, string key, Func<T, JsonNode?> value)
            {
                if (parse.GetResult(option) is { Implicit: false }) options[key] = value(parse.GetValue(option)!);
            }
            Given(instructions, "instructions", v => v);
            Given(advBench, "advBench", v => v);
            Given(alpaca, "alpaca", v => v);
            Given(subtraction, "subtraction", v => v);
            Given(layer, "layer", v => v);
            Given(position, "position", v => v);
            Given(maxNewTokens, "maxNewTokens", v => v);
            Given(seed, "seed", v => v);
            Given(maxTest, "maxTest", v => v);
            Given(coefficient, "additionCoefficient", v => v);
            Given(unit, "additionScale", v => v ? "UnitDirection" : "MeanDifference");
            Given(samples, "samples", v => v);
            var named = new JsonObject();
            for (int i = 0; i < templates.Length; i++)
                if (templates[i] != "auto") named[models[i].Name] = templates[i];
            if (named.Count > 0) options["templates"] = named;
            var layerConfig = new JsonObject { ["refusal"] = options };
            if (parse.GetResult(worldSeed) is { Implicit: false }) layerConfig["worldSeed"] = parse.GetValue(worldSeed);

            var request = new ComparisonRequest
            {
                Models = models,
                OutputDirectory = parse.GetValue(output)!,
                Config = shared.Build(parse, layer: layerConfig) with { Analyses = ["refusal"] },
                CacheDirectory = parse.GetValue(shared.CacheDir),
                Title = "OnnxInterp refusal",
            };
            var outcome = ComparisonCli.Run(ctx, request, cancellation);
            Print(ctx.Out, outcome.Results["refusal"]!);
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    /// <summary>Each model's direction and the prefix-score table, from the results.json section.</summary>
    static void Print(TextWriter o, JsonNode section)
    {
        static string F(JsonNode? v) => v!.GetValue<double>().ToString("F2", CultureInfo.InvariantCulture);
        o.WriteLine($"protocol: {section["protocol"]}");
        foreach (var d in section["directions"]!.AsArray())
            o.WriteLine($"{d!["model"]}: {d["template"]} template, direction at layer {d["layer"]}, position {d["position"]} " +
                $"({How(d)}), norm {F(d["norm"])}");
        string How(JsonNode d) =>
            section["protocol"]!.GetValue<string>() == "Paper" && d["paperSource"] is not null
                ? d["paperScript"] is { } script ? $"the paper's, {script}" : "the paper protocol's rule"
                : d["selected"]!.GetValue<bool>() ? "selected" : "given";
        o.WriteLine("refusal score (prefix): harmful baseline -> ablated with each direction; harmless baseline -> added");
        var effects = section["effects"]!.AsArray();
        foreach (var s in section["scores"]!.AsArray())
        {
            var model = s!["model"]!.GetValue<string>();
            var mine = effects.Where(e => e!["model"]!.GetValue<string>() == model).ToList();
            o.WriteLine($"  {model,-12} harmful {F(s["harmful"])} -> {string.Join(" ", mine.Select(e => $"{e!["direction"]}:{F(e["ablated"])}"))}; " +
                $"harmless {F(s["harmless"])} -> {string.Join(" ", mine.Select(e => $"{e!["direction"]}:{F(e["added"])}"))}");
        }
    }
}
