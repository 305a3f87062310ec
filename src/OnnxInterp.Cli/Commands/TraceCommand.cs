using System.CommandLine;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Comparison;

namespace OnnxInterp.Cli.Commands;

static class TraceCommand
{
    public static Command Create(CliContext ctx)
    {
        var maxPairs = new Option<int?>("--max-pairs") { Description = "Trace at most this many pairs (default: every curated pair)." };
        var metric = new Option<string>("--metric") { Description = "logit-diff (the paper's), prob-diff or kl.", DefaultValueFactory = _ => "logit-diff" };
        metric.AcceptOnlyFromAmong("logit-diff", "prob-diff", "kl");
        var noTransfer = new Option<bool>("--no-transfer") { Description = "Skip cross-model transfer patching." };
        // Unlike compare's 50 pairs per dataset, trace traces every curated pair unless told otherwise.
        var everyPair = new JsonObject();
        AnalysisVerb<KnowledgeOptions>.Set(everyPair, o => o.MaxPairs, null);
        return new AnalysisVerb<KnowledgeOptions>(ComparisonSteps.Of<KnowledgeStep>())
        {
            Title = "OnnxInterp causal tracing",
            DatasetAlias = true,
            DatasetsRequired = true,
            DatasetsDescription = "A statement CSV (statement,label[,…]) or synthetic:<name> for the built-in world (e.g. synthetic:cities); repeat or comma-separate for several.",
            Start = new ComparisonConfig { AnalysisOptions = new Dictionary<string, JsonObject> { [ComparisonSteps.Of<KnowledgeStep>().Name] = everyPair } },
        }
            .Bind(maxPairs, o => o.MaxPairs)
            .Bind(metric, o => o.Metric, Metric)
            .Bind(noTransfer, o => o.Transfer, v => !v)
            .Create(ctx, "trace", """
            Knowledge storage and representation: causal tracing between true and false statements that differ only in the
            subject, for each model, and cross-model transfer patching (base -> post and back), with the paper's Table 1.
            Checkpoints are exported on demand (cached). Writes the report folder as `compare` does, with the "knowledge"
            section of results.json (docs/results-schema.md), figures/*.png and, in data/knowledge.<dataset>/,
            knowledge_<dataset>.json and a CSV per matrix; resumes like `compare`. --preset paper: patching_process_data.py's
            curation, patching.py's prompts, every pair.

            Examples:
              onnxinterp trace --base ./base-onnx --post ./instruct-onnx --dataset synthetic:cities --out ./report
              onnxinterp trace --base ./llama8b --post ./llama8b-it --dataset ../shared/datasets/paper/cities.csv --max-pairs 50 --out ./r
              onnxinterp trace --base ./llama8b --post ./llama8b-it --dataset ./datasets/cities.csv --preset paper --out ./r
            """);
    }

    /// <summary>The --metric names of <see cref="TracingMetric"/>.</summary>
    public static TracingMetric Metric(string? name) => name switch
    {
        "prob-diff" => TracingMetric.ProbDiff,
        "kl" => TracingMetric.KL,
        _ => TracingMetric.LogitDiff,
    };
}
