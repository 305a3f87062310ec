using System.CommandLine;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class TransferCommand
{
    public static Command Create(CliContext ctx)
    {
        var maxPairs = new Option<int?>("--max-pairs") { Description = "Patch at most this many pairs per dataset (default 50)." };
        var metric = new Option<string?>("--metric") { Description = "logit-diff (the paper's), prob-diff or kl." };
        metric.AcceptOnlyFromAmong("logit-diff", "prob-diff", "kl");
        return new AnalysisVerb<KnowledgeOptions>(ComparisonSteps.Of<KnowledgeStep>())
        {
            Title = "OnnxInterp cross-model transfer",
            PostRequired = true,
            WorldSeed = false,
        }
            .Fix(o => o.Transfer, true)
            .Bind(maxPairs, o => o.MaxPairs)
            .Bind(metric, o => o.Metric, TraceCommand.Metric)
            .Create(ctx, "transfer", """
            Knowledge representation alone: patch the base model's residual states into each post-trained model and back
            (cross-model transfer), next to each model's own causal tracing, and compare the matrices (the paper's Table 1).
            Writes the "knowledge" section of results.json, report.md/html and figures; resumes like `compare`.

            Examples:
              onnxinterp transfer --base models/base --post models/instruct --out ./transfer
              onnxinterp transfer --base ./llama8b --post ./llama8b-it --datasets ../datasets/cities.csv --max-pairs 20 --out ./t
            """);
    }
}
