using System.CommandLine;
using System.Globalization;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class RefusalCommand
{
    public static Command Create(CliContext ctx)
    {
        var baseDir = new Option<string>("--base") { Description = "Exported base model folder.", Required = true };
        var post = new Option<string[]>("--post") { Description = "Exported post-trained model folder(s); repeat for several." };
        var instructions = new Option<string>("--instructions")
        {
            Description = "Harmful/harmless instructions: a CSV (statement,label; label 1 = harmful, as the paper's refusal_train.csv), " +
                "a JSON file ({\"harmful\": [...], \"harmless\": [...]} or [{\"instruction\", \"label\"}]), or synthetic for the built-in world's.",
            DefaultValueFactory = _ => "synthetic",
        };
        var worldSeed = new Option<int>("--world-seed") { Description = "Seed of the synthetic world (the shipped family uses 1).", DefaultValueFactory = _ => 1 };
        var template = new Option<string[]>("--template")
        {
            Description = $"Chat template per model, in order (base first): {string.Join(", ", ChatTemplates.Names)} or auto. " +
                $"auto (the default) reads \"{ModelChatTemplate.ConfigKey}\" from the folder's tokenizer_config.json, else plain.",
        };
        var layer = new Option<int?>("--layer") { Description = "Layer of the direction for every model (with --position); default: Arditi et al.'s selection per model." };
        var position = new Option<int?>("--position") { Description = "Position of the direction, counted from the end of the prompt (-1 = last token)." };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "Greedy tokens per completion.", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed of the train/validation/test split.", DefaultValueFactory = _ => 42 };
        var maxTest = new Option<int>("--max-test") { Description = "At most this many test instructions per class.", DefaultValueFactory = _ => 100 };
        var coefficient = new Option<float>("--addition-coefficient") { Description = "Coefficient of activation addition.", DefaultValueFactory = _ => 1f };
        var unit = new Option<bool>("--addition-unit") { Description = "Add coefficient x the unit direction (the paper) instead of x the mean difference (Arditi et al.)." };
        var samples = new Option<int>("--samples") { Description = "Sample completions per table in refusal.md.", DefaultValueFactory = _ => 3 };
        var output = new Option<string>("--out", "-o") { Description = "Report folder (refusal.json, refusal.md).", Required = true };
        var cmd = new Command("refusal", """
            Refusal: each model's refusal direction (mean difference of resid_pre between harmful and harmless instructions,
            given or selected as Arditi et al. do), then greedy completions of held-out instructions with the direction
            ablated (harmful) or added (harmless), for every model with its own and the other models' directions: the
            paper's Table 4, the cosine similarity of the directions and sample completions.

            Examples:
              onnxinterp refusal --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --out ./refusal
              onnxinterp refusal --base ./llama8b --post ./llama8b-it --instructions ../shared/datasets/paper/refusal_train.csv --template plain --template llama3 --layer 11 --position -1 --out ./r
            """)
        { baseDir, post, instructions, worldSeed, template, layer, position, maxNewTokens, seed, maxTest, coefficient, unit, samples, output };
        cmd.SetAction(parse => ctx.Guard(parse, () =>
        {
            var dirs = new[] { parse.GetValue(baseDir)! }.Concat(parse.GetValue(post) ?? []).ToList();
            var templates = parse.GetValue(template) ?? [];
            if (templates.Length > dirs.Count)
                throw new InvalidArgumentException($"{templates.Length} templates for {dirs.Count} models", "--template", string.Join(",", templates));
            var spec = parse.GetValue(instructions)!;
            var set = spec == "synthetic" ? InstructionSet.Synthetic(parse.GetValue(worldSeed)) : InstructionSet.Read(spec);
            var sessions = new List<ModelSession>();
            try
            {
                var names = Names(dirs);
                var models = new List<RefusalModel>();
                for (int i = 0; i < dirs.Count; i++)
                {
                    sessions.Add(ModelSession.Open(dirs[i]));
                    string? t = i < templates.Length && templates[i] != "auto" ? templates[i] : null;
                    models.Add(RefusalModel.FromSession(names[i], sessions[i], t));
                }
                var options = new RefusalOptions
                {
                    Layer = parse.GetValue(layer),
                    Position = parse.GetValue(position),
                    MaxNewTokens = parse.GetValue(maxNewTokens),
                    Seed = parse.GetValue(seed),
                    MaxTest = parse.GetValue(maxTest),
                    AdditionCoefficient = parse.GetValue(coefficient),
                    AdditionScale = parse.GetValue(unit) ? AdditionScale.UnitDirection : AdditionScale.MeanDifference,
                };
                var progress = new Progress<RefusalProgress>(p => ctx.Err.Write($"\r{p.Model}: {p.Stage} {p.Done}/{p.Total}".PadRight(78)));
                var result = RefusalAnalysis.Run(models, set, options, progress);
                ctx.Err.WriteLine();
                var outDir = parse.GetValue(output)!;
                RefusalReport.Write(outDir, result, parse.GetValue(samples));
                foreach (var d in result.Directions)
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{d.Model}: {d.Template} template, direction at layer {d.Direction.Layer}, position {d.Direction.Position} ({(d.Selection is null ? "given" : "selected")}), norm {d.Direction.Norm:F2}"));
                ctx.Out.WriteLine("refusal score (prefix): harmful baseline -> ablated with each direction; harmless baseline -> added");
                foreach (var row in result.Table())
                    ctx.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {row.Model,-12} harmful {row.HarmfulBaseline:F2} -> {string.Join(" ", row.HarmfulAblated.Select(kv => $"{kv.Key}:{kv.Value:F2}"))}; harmless {row.HarmlessBaseline:F2} -> {string.Join(" ", row.HarmlessAdded.Select(kv => $"{kv.Key}:{kv.Value:F2}"))}"));
                ctx.Out.WriteLine($"report written to {Path.GetFullPath(outDir)}");
                return ExitCodes.Ok;
            }
            finally
            {
                foreach (var s in sessions) s.Dispose();
            }
        }));
        return cmd;
    }

    /// <summary>Folder names, made distinct by their index when two folders share a name.</summary>
    static List<string> Names(List<string> dirs)
    {
        var names = dirs.Select((d, i) => Path.GetFileName(Path.GetFullPath(d).TrimEnd('/')) is { Length: > 0 } n ? n : i == 0 ? "base" : $"post{i}").ToList();
        return names.Select((n, i) => names.Count(x => x == n) > 1 ? $"{n}-{i}" : n).ToList();
    }
}
