using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// Knowledge storage and representation (the paper's sections 3–4): causal tracing per model and cross-model transfer
/// patching, once per dataset. results.json: knowledge.DATASET = <see cref="KnowledgeSection"/> (docs/results-schema.md).
/// </summary>
public sealed class KnowledgeStep : AnalysisStep<KnowledgeOptions, KnowledgeSection>
{
    public override string Name => "knowledge";
    public override string Title => "Knowledge storage and representation (causal tracing, cross-model patching)";

    public override bool PerDataset => true;

    /// <summary>The analysis's defaults, but at most 50 pairs per dataset: enough for stable matrices, bounded time.</summary>
    public override KnowledgeOptions Defaults => new() { MaxPairs = 50 };

    /// <summary>The paper's protocol: its curation and prompts, every curated pair traced (patching.py traces them all).</summary>
    public override KnowledgeOptions PaperDefaults => new() { Protocol = AnalysisProtocol.Paper, MaxPairs = null };

    protected override void Validate(KnowledgeOptions o)
    {
        if (o.MaxPairs is <= 0) throw new InvalidArgumentException("must be positive (or null for every pair)", "knowledge.maxPairs", o.MaxPairs.ToString());
    }

    /// <summary>
    /// One matrix per model and, with transfer, two per post-trained model, each over the traced pairs (all of them,
    /// taken as 200, when unbounded): about 0.06 s per matrix and pair on the demo's machine (the demo sweep: 4 matrices
    /// of 16 pairs, 2–5 s; the demo: 7 of 16, 7–11 s).
    /// </summary>
    public override double EstimatedCost(KnowledgeOptions options, StepPart part, int models) =>
        0.06 * (models + (options.Transfer ? 2 * (models - 1) : 0)) * (options.MaxPairs ?? 200);

    public override StepResult<KnowledgeSection> Run(StepContext context, KnowledgeOptions options, StepPart part)
    {
        var ds = context.Dataset(part.Dataset!);
        // The synthetic world's own examples, or for a CSV patching.py's where it has them and few_shot_samples.json's otherwise.
        var fewShot = DatasetSpec.IsSynthetic(part.Dataset!) ? ds.FewShot!
            : TracingPrompts.ExamplesFor(ds.Data.Name, ds.FewShot, "datasets", ds.Spec);
        var models = context.Models.Select(m => new KnowledgeModel(m.Name, m.Model)).ToList();
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
        return new StepResult<KnowledgeSection>(KnowledgeSection.From(result), KnowledgeReport.Markdown(result));
    }

    /// <summary>Each post-trained model's map against the base's, and the base's states patched into it.</summary>
    public override IReadOnlyList<SummaryItem> Headlines(KnowledgeSection section, StepPart part)
    {
        var models = section.Matrices.Where(m => m.Kind == KnowledgeSectionMatrix.OwnKind).Select(m => m.Model).ToList();
        var summary = new List<SummaryItem>();
        foreach (var post in models.Skip(1))
        {
            foreach (var (a, b, label) in new[] { (models[0], post, "knowledge map corr"), (post, $"{models[0]}->{post}", "transfer corr") })
                if (section.Row(a, b) is { } row)
                    summary.Add(new SummaryItem($"{label}, {a} vs {b}", row.Corr, $"knowledge.{part.Id}.comparisons[a={a},b={b}].corr"));
        }
        return summary;
    }

    /// <summary>The paper's Table 1 over every traced dataset (<see cref="KnowledgeReport.Overview"/>).</summary>
    public override string? Overview(IReadOnlyList<(string Part, KnowledgeSection Section)> parts, IReadOnlyList<string> models) =>
        KnowledgeReport.Overview(parts, models);

    public override IEnumerable<string> Describe(KnowledgeSection s, KnowledgeOptions options)
    {
        yield return $"{s.Dataset}: {s.PairsCurated} pairs curated, {s.PairsTraced} traced ({s.SubjectTokens} subject, {s.ObjectTokens} object tokens)";
        foreach (var r in s.Comparisons)
            yield return FormattableString.Invariant($"  {r.A,-20} vs {r.B,-20} corr {r.Corr:F3}  max|diff| {r.MaxAbsDiff:F3}  max|diff|_K {r.MaxAbsDiffK:F3}");
    }
}
