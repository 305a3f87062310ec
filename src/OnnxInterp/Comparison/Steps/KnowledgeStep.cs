using System.Text.Json.Nodes;
using OnnxInterp.Internals;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;

namespace OnnxInterp.Comparison.Steps;

/// <summary>
/// Knowledge storage and representation (the paper's sections 3–4): causal tracing per model and cross-model transfer
/// patching, once per dataset. results.json: knowledge.DATASET = { dataset, pairsCurated, pairsTraced, subjectTokens,
/// objectTokens, metric, labels, matrices[{model, kind, pairs, raw, normalized}], comparisons[{a, b, corr, maxAbsDiff, maxAbsDiffK}] }.
/// </summary>
public sealed class KnowledgeStep : ComparisonStep<KnowledgeOptions>
{
    public override string Name => "knowledge";
    public override string Title => "Knowledge storage and representation (causal tracing, cross-model patching)";

    /// <summary>The analysis's defaults, but at most 50 pairs per dataset: enough for stable matrices, bounded time.</summary>
    public override KnowledgeOptions Defaults => new() { MaxPairs = 50 };

    /// <summary>The paper's protocol: its curation and prompts, every curated pair traced (patching.py traces them all).</summary>
    public override KnowledgeOptions PaperDefaults => new() { Protocol = Analysis.AnalysisProtocol.Paper, MaxPairs = null };

    public override IReadOnlyList<StepPart> Parts(ComparisonConfig config, KnowledgeOptions options) =>
        config.Datasets.Select(d => new StepPart(ComparisonSession.DatasetId(d), d)).ToList();

    protected override void Validate(KnowledgeOptions o)
    {
        if (o.MaxPairs is <= 0) throw new InvalidArgumentException("must be positive (or null for every pair)", "knowledge.maxPairs", o.MaxPairs.ToString());
    }

    public override StepOutput Run(StepContext context, KnowledgeOptions options, StepPart part)
    {
        var ds = context.Dataset(part.Dataset!);
        // Causal tracing uses the examples patching.py hard-codes where it has them; few_shot_samples.json's otherwise.
        var fewShot = context.Config.Datasets.Count > 0 && !part.Dataset!.StartsWith(ComparisonSession.SyntheticPrefix, StringComparison.Ordinal)
            ? TracingPrompts.PaperExamplesFor(ds.Data.Name) ?? ds.FewShot : ds.FewShot;
        if (fewShot is null)
            throw new InvalidArgumentException($"no few-shot examples for this dataset: the paper's code has them for {string.Join(", ", TracingPrompts.PaperExamples.Keys)}, and {FewShotSamples.FileName} (the paper's datasets folder) beside the CSV adds its datasets; put that file beside the CSV or use one of those datasets", "datasets", ds.Spec);
        var models = context.Models.Select(m => new KnowledgeModel(m.Name, m.Session)).ToList();
        int posts = models.Count - 1;
        int traces = models.Count + (options.Transfer ? 2 * posts : 0);

        // CausalTracing reports once per pair of each matrix in turn: a report after a complete one starts the next matrix.
        int matrix = 0;
        bool complete = false;
        var progress = new SyncProgress<CaptureProgress>(p =>
        {
            if (complete) matrix++;
            complete = p.PromptsDone == p.Prompts;
            double fraction = (matrix + (double)p.PromptsDone / Math.Max(1, p.Prompts)) / traces;
            context.Progress.Report(new StepProgress(fraction, $"matrix {matrix + 1}/{traces}, pair {p.PromptsDone}/{p.Prompts}"));
        });
        var tokenizer = context.Tokenizer;
        var result = KnowledgeAnalysis.Run(ds.Data, tokenizer, models, fewShot, options, progress, context.Cancellation);
        KnowledgeReport.Write(context.OutputDirectory, result);

        var json = Section(result);
        // Headlines: each post-trained model's map against the base's, and the base's states patched into it.
        var summary = new List<SummaryItem>();
        foreach (var post in models.Skip(1))
        {
            foreach (var (a, b, label) in new[] { (models[0].Name, post.Name, "knowledge map corr"), (post.Name, $"{models[0].Name}->{post.Name}", "transfer corr") })
                if (result.Comparisons.FirstOrDefault(c => c.A == a && c.B == b) is { } row)
                    summary.Add(new SummaryItem($"{label}, {a} vs {b}", row.Corr, $"knowledge.{part.Id}.comparisons[a={a},b={b}].corr"));
        }
        return new StepOutput(json, KnowledgeReport.Markdown(result)) { Summary = summary };
    }

    /// <summary>One dataset's part of the results.json "knowledge" section (docs/results-schema.md); `trace` writes it too.</summary>
    public static JsonObject Section(KnowledgeResult result) => new()
    {
        ["dataset"] = result.Dataset,
        ["pairsCurated"] = result.Curation.Pairs.Count,
        ["pairsTraced"] = result.Prompts.Count,
        ["subjectTokens"] = result.SubjectTokens,
        ["objectTokens"] = result.ObjectTokens,
        ["protocol"] = result.Options.Protocol.ToString().ToLowerInvariant(),
        ["metric"] = result.Options.Metric.ToString(),
        ["labels"] = ComparisonJson.ToNode(result.Prompts[0].Labels),
        ["matrices"] = new JsonArray(result.Matrices.Select(m => Matrix(m, "model"))
            .Concat(result.Transfers.Select(m => Matrix(m, "transfer"))).ToArray()),
        ["comparisons"] = ComparisonJson.ToNode(result.Comparisons),
    };

    /// <summary>
    /// results.json holding only this analysis's "knowledge" section (the shape `compare` writes, for one dataset):
    /// what the standalone `trace` verb writes beside its report files.
    /// </summary>
    public static void WriteResults(string directory, KnowledgeResult result)
    {
        var results = new JsonObject
        {
            ["tool"] = "onnxinterp trace",
            ["models"] = new JsonArray(result.Matrices.Select(m => (JsonNode)m.Model).ToArray()),
            ["knowledge"] = new JsonObject { [result.Dataset] = Section(result) },
        };
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), results.ToJsonString(ComparisonJson.Strict) + "\n");
    }

    static JsonNode Matrix(KnowledgeMatrix m, string kind) => new JsonObject
    {
        ["model"] = m.Model,
        ["kind"] = kind,
        ["pairs"] = m.Pairs,
        ["raw"] = ComparisonJson.ToNode(m.ToJagged()),
        ["normalized"] = ComparisonJson.ToNode(m.Normalized().ToJagged()),
    };
}
