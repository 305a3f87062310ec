using System.CommandLine;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class EntropyCommand
{
    public static Command Create(CliContext ctx)
    {
        var dataset = new Option<string?>("--dataset")
        {
            Description = "Statements for the mean ablation and calibration: a statement CSV with the paper's few-shot examples, or " +
                "synthetic:<name> for the built-in world's held-out statements. Without it (and without entropy.dataset in --config or --set) only the weights are analysed.",
        };
        var top = new Option<int>("--top") { Description = "Entropy neurons per model: this many with the smallest LogitVar.", DefaultValueFactory = _ => 10 };
        var percentile = new Option<double>("--percentile") { Description = "Candidates have a w_out norm above this percentile (0-100).", DefaultValueFactory = _ => 75 };
        var maxStatements = new Option<int>("--max-statements") { Description = "Judge at most this many statements.", DefaultValueFactory = _ => 200 };
        return new AnalysisVerb<ConfidenceStepOptions>(ComparisonSteps.Of<ConfidenceStep>())
        {
            Title = "OnnxInterp entropy neurons",
            Datasets = false,
        }
            .Bind(dataset, o => o.Dataset)
            .Bind(dataset, o => o.Ablate, _ => true)
            .Bind(top, o => o.Selection.Top)
            .Bind(percentile, o => o.Selection.Percentile)
            .Bind(maxStatements, o => o.MaxStatements, v => (int?)v)
            // Weights only unless a dataset or the ablation was asked for somewhere.
            .Finally((verb, config) => verb.Sets(config, o => o.Dataset) || verb.Sets(config, o => o.Ablate) ? config : verb.Override(config, o => o.Ablate, false))
            .Create(ctx, "entropy", """
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
            """);
    }
}
