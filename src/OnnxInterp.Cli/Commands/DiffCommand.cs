using System.CommandLine;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class DiffCommand
{
    public static Command Create(CliContext ctx)
    {
        var instructions = new Option<string>("--instructions")
        {
            Description = "Instructions rendered in the chat template: synthetic (the built-in world's), a CSV (statement,label; 1 = harmful) or JSON file, or none.",
            DefaultValueFactory = _ => DiffStepOptions.SyntheticInstructions,
        };
        var maxInstructions = new Option<int>("--max-instructions") { Description = "Harmful and harmless instructions taken, each.", DefaultValueFactory = _ => 24 };
        var dataset = new Option<string?>("--dataset") { Description = "Statements for the few-shot judging prompts: synthetic:<name> (held-out statements) or a statement CSV with the paper's few-shot examples; default synthetic:cities." };
        var noJudging = new Option<bool>("--no-judging") { Description = "No judging prompts in the corpus." };
        var maxJudging = new Option<int>("--max-judging") { Description = "Judging prompts taken.", DefaultValueFactory = _ => 24 };
        var text = new Option<string?>("--text") { Description = "A UTF-8 text file: each non-empty line is one prompt of plain text." };
        var maxText = new Option<int>("--max-text") { Description = "Lines of --text taken.", DefaultValueFactory = _ => 64 };
        var renderIn = new Option<string>("--render-in")
        {
            Description = "The chat template both models read the instructions in: post (each post-trained model's own, the default), base, or a template name.",
            DefaultValueFactory = _ => DiffStepOptions.PostTemplate,
        };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Cut prompts to their first N tokens.", DefaultValueFactory = _ => 256 };
        var top = new Option<int>("--top") { Description = "Tokens listed with the largest KL(post || base).", DefaultValueFactory = _ => 20 };
        var noLens = new Option<bool>("--no-lens") { Description = "Skip the logit lens (the head on every layer)." };
        var noCross = new Option<bool>("--no-cross-lens") { Description = "Skip the cross-model lens (each model's residual stream through the other's head)." };
        var layer = new Option<int?>("--layer") { Description = "Layer of the principal directions and the steering (negative: from the end); default the middle one." };
        var directions = new Option<int>("--directions") { Description = "Principal directions of the activation differences (0: none).", DefaultValueFactory = _ => 3 };
        var steerPrompts = new Option<int>("--steer-prompts") { Description = "Prompts generated with each direction added to the base (0: none).", DefaultValueFactory = _ => 2 };
        var steerScale = new Option<double>("--steer-scale") { Description = "The added vector is this × the mean ||h_post - h_base|| at the layer × the unit direction.", DefaultValueFactory = _ => 8.0 };
        var steerTokens = new Option<int>("--steer-tokens") { Description = "Greedy tokens per steered generation.", DefaultValueFactory = _ => 12 };
        var batch = new Option<int>("--batch-size") { Description = "Prompts per forward pass.", DefaultValueFactory = _ => 8 };
        return new AnalysisVerb<DiffStepOptions>(ComparisonSteps.Of<DiffStep>())
        {
            Title = "OnnxInterp model diff",
            PostRequired = true,
            Datasets = false,
        }
            .Bind(instructions, o => o.Instructions, v => v == "none" ? null : v)
            .Bind(maxInstructions, o => o.MaxInstructions)
            .Bind(dataset, o => o.Dataset)
            .Bind(noJudging, o => o.Judging, v => !v)
            .Bind(maxJudging, o => o.MaxJudging)
            .Bind(text, o => o.Text)
            .Bind(maxText, o => o.MaxText)
            .Bind(renderIn, o => o.Template)
            .Bind(maxTokens, o => o.MaxTokens)
            .Bind(top, o => o.TopTokens)
            .Bind(noLens, o => o.Lens, v => !v)
            .Bind(noCross, o => o.CrossLens, v => !v)
            .Bind(layer, o => o.DirectionLayer)
            .Bind(directions, o => o.Directions)
            .Bind(steerPrompts, o => o.Steering.Prompts)
            .Bind(steerScale, o => o.Steering.Scale)
            .Bind(steerTokens, o => o.Steering.MaxNewTokens)
            .Bind(batch, o => o.BatchSize)
            .Create(ctx, "diff", """
            Where post-training acts: each post-trained model against the base on the same tokens. Per-token KL(post || base)
            and top-1 disagreement over a corpus (instructions in the post-trained model's chat template, the paper's few-shot
            judging prompts, lines of a text file), ranked, with totals for template and content tokens; the logit lens of both
            models (their own final norm and unembedding on every layer) and across them (each model's residual stream through
            the other's head); ||h_post - h_base|| per layer, relative and cosine; the top principal directions of those
            differences with their logit-lens tokens, and the base model steered along each. One forward pass per model per
            prompt; the lens reads the captured residual streams. Checkpoints are exported on demand (cached). Writes the "diff"
            section of results.json and the report (highlighted text, layers x tokens figures); resumes like `compare`.

            Examples:
              onnxinterp diff --base models/base --post models/instruct --out ./diff
              onnxinterp diff --base ./base-onnx --post ./sft-onnx --post ./instruct-onnx --dataset synthetic:animal_class --out ./diff
              onnxinterp diff --base ./llama8b --post ./llama8b-it --instructions ../shared/datasets/paper/refusal_train.csv --no-judging --text notes.txt --out ./diff
            """);
    }
}
