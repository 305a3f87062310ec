using System.CommandLine;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Comparison;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Cli.Commands;

static class RefusalCommand
{
    public static Command Create(CliContext ctx)
    {
        var instructions = new Option<string>("--instructions")
        {
            Description = "Harmful/harmless instructions: a CSV (statement,label; label 1 = harmful, as the paper's refusal_train.csv), " +
                "a JSON file ({\"harmful\": [...], \"harmless\": [...]} or [{\"instruction\", \"label\"}]), or synthetic for the built-in world's.",
            DefaultValueFactory = _ => "synthetic",
        };
        var advBench = new Option<string?>("--advbench")
        {
            Description = "The paper's harmful instructions: AdvBench's harmful_behaviors.csv (goal column); with --alpaca, instead of --instructions.",
        };
        var alpaca = new Option<string?>("--alpaca")
        {
            Description = "The paper's harmless instructions: Alpaca's JSON (a list of {instruction, input, output}, or JSON Lines); those with an empty input are kept.",
        };
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
        return new AnalysisVerb<RefusalStepOptions>(ComparisonSteps.Of<RefusalStep>())
        {
            Title = "OnnxInterp refusal",
            Datasets = false,
            Templates = false, // its own --template: one per model, in order
            MoreOptions = (parse, models, options) =>
            {
                var templates = parse.GetValue(template) ?? [];
                if (templates.Length > models.Count)
                    throw new InvalidArgumentException($"{templates.Length} templates for {models.Count} models", "--template", string.Join(",", templates));
                var named = templates.Select((t, i) => (Model: models[i].Name, Template: t)).Where(x => x.Template != "auto").ToDictionary(x => x.Model, x => x.Template);
                if (named.Count > 0) AnalysisVerb<RefusalStepOptions>.Set(options, o => o.Templates, named);
            },
        }
            .Bind(instructions, o => o.Instructions)
            .Bind(advBench, o => o.AdvBench)
            .Bind(alpaca, o => o.Alpaca)
            .With(template) // read in MoreOptions, which knows the models' names
            .Bind(subtraction, o => o.Subtraction)
            .Bind(layer, o => o.Layer)
            .Bind(position, o => o.Position)
            .Bind(maxNewTokens, o => o.MaxNewTokens)
            .Bind(seed, o => o.Seed)
            .Bind(maxTest, o => o.MaxTest)
            .Bind(coefficient, o => o.AdditionCoefficient, v => v)
            .Bind(unit, o => o.AdditionScale, v => v ? AdditionScale.UnitDirection : AdditionScale.MeanDifference)
            .Bind(samples, o => o.Samples)
            .Create(ctx, "refusal", """
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
            """);
    }
}
