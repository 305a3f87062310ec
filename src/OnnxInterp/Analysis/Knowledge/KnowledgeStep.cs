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
public sealed class KnowledgeStep : ComparisonStep<KnowledgeOptions>, IStepOverview
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
        // The synthetic world's own examples, or for a CSV patching.py's where it has them and few_shot_samples.json's otherwise.
        var fewShot = part.Dataset!.StartsWith(ComparisonSession.SyntheticPrefix, StringComparison.Ordinal) ? ds.FewShot!
            : TracingPrompts.ExamplesFor(ds.Data.Name, ds.FewShot, "datasets", ds.Spec);
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
        ["curation"] = result.Curation.Rule,
        ["pairsTraced"] = result.Prompts.Count,
        ["subjectTokens"] = result.SubjectTokens,
        ["objectTokens"] = result.ObjectTokens,
        ["protocol"] = result.Options.Protocol.ToString().ToLowerInvariant(),
        ["metric"] = result.Options.Metric.ToString(),
        ["labels"] = ComparisonJson.ToNode(result.Matrices[0].PositionLabels),
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

    /// <summary>
    /// The paper's Table 1 over every traced dataset (columns): per post-trained model, the curated pairs and its map
    /// against the base's (Corr, max|diff|, max|diff|_K on the normalised matrices); then the same for cross-model
    /// patching (knowledge representation): the post model against base→post, the base against post→base.
    /// </summary>
    public string? Overview(IReadOnlyList<(string Part, JsonNode Results)> parts, JsonObject results)
    {
        if (parts.Count == 0) return null;
        var md = new System.Text.StringBuilder();
        string protocol = parts[0].Results["protocol"]?.GetValue<string>() ?? "default";
        md.AppendLine("### Protocol").AppendLine();
        md.AppendLine(protocol == "paper"
            ? "The paper's (`--preset paper`), as Du et al.'s code runs it: pairs curated as Knowledge+Truthfulness/patching_process_data.py does " +
              "(the paper's subject/object token counts per tokenizer family, each true statement paired with a false one ending in the same word, " +
              "the last such false statement reused), few-shot prompts as patching.py builds them (its examples, Python's random.seed(1) and one list " +
              "shuffled in place per pair), answers the last token of \" TRUE\" / \" FALSE\", every curated pair traced (`knowledge.maxPairs` limits them); each layer's block output " +
              "patched from the true prompt into the false one at each statement and question position, scored by logit(TRUE) − logit(FALSE) at the last position."
            : "OnnxInterp's default: pairs curated with each false statement used once at the most common subject/object token counts, " +
              "a fresh few-shot order per pair, at most `knowledge.maxPairs` pairs; otherwise as the paper patches and scores.").AppendLine();
        md.AppendLine("Corr is Pearson's r of the two normalised [layers × positions] maps, max|diff| their largest absolute difference, " +
            "max|diff|_K that over the subject and object columns (patching_visualize.py lines 184–204).").AppendLine();
        if (protocol == "paper")
            md.AppendLine("The paper's published Table 1 values are not bundled with OnnxInterp (they could not be read from the paper here); " +
                "compare with Table 1 of arXiv 2504.02904 by hand.").AppendLine();

        var models = results["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()).ToList();
        string Header() => "| model | measure | " + string.Join(" | ", parts.Select(p => p.Part)) + " |\n|" + string.Concat(Enumerable.Repeat(" --- |", parts.Count + 2));
        JsonNode? Row(JsonNode part, string a, string b) =>
            part["comparisons"]?.AsArray().FirstOrDefault(c => c!["a"]!.GetValue<string>() == a && c["b"]!.GetValue<string>() == b);
        string Cells(Func<JsonNode, string> cell) => string.Join(" | ", parts.Select(p => cell(p.Results)));
        string Num(JsonNode? n, string key, string format) => n?[key] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d)
            ? d.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "–";

        md.AppendLine("### Table 1: knowledge storage (causal tracing), base vs post-trained").AppendLine();
        md.AppendLine(Header());
        foreach (var post in models.Skip(1))
        {
            md.AppendLine($"| {post} | curated pairs (traced) | {Cells(p => $"{p["pairsCurated"]} ({p["pairsTraced"]})")} |");
            md.AppendLine($"| | subject + object tokens | {Cells(p => p["labels"]!.AsArray().Count == 3 ? "–" : $"{p["subjectTokens"]} + {p["objectTokens"]}")} |");
            md.AppendLine($"| | Corr | {Cells(p => Num(Row(p, models[0], post), "corr", "F3"))} |");
            md.AppendLine($"| | max\\|diff\\| | {Cells(p => Num(Row(p, models[0], post), "maxAbsDiff", "F1"))} |");
            md.AppendLine($"| | max\\|diff\\|_K | {Cells(p => Num(Row(p, models[0], post), "maxAbsDiffK", "F1"))} |");
        }
        md.AppendLine();
        foreach (var (part, r) in parts)
            if (r["curation"]?.GetValue<string>() is { Length: > 0 } rule) md.AppendLine($"- {part}: {rule}.");
        md.AppendLine();
        if (models.Count > 1 && parts.Any(p => Row(p.Results, models[1], $"{models[0]}->{models[1]}") is not null))
        {
            md.AppendLine("### Knowledge representation (cross-model patching)").AppendLine();
            md.AppendLine(Header());
            foreach (var post in models.Skip(1))
                foreach (var (a, b) in new[] { (post, $"{models[0]}->{post}"), (models[0], $"{post}->{models[0]}") })
                {
                    md.AppendLine($"| {a} vs {b} | Corr | {Cells(p => Num(Row(p, a, b), "corr", "F3"))} |");
                    md.AppendLine($"| | max\\|diff\\| | {Cells(p => Num(Row(p, a, b), "maxAbsDiff", "F1"))} |");
                    md.AppendLine($"| | max\\|diff\\|_K | {Cells(p => Num(Row(p, a, b), "maxAbsDiffK", "F1"))} |");
                }
            md.AppendLine();
        }
        return md.ToString();
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
