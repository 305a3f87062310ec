using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Reports;
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
        var (plan, models) = Prepare(context, options, part);
        var perPair = KnowledgeAnalysis.Trace(plan, models, 0, plan.Prompts.Count, Progress(context, models, options), context.Cancellation);
        return Finish(context.OutputDirectory, KnowledgeAnalysis.Assemble(plan, models.Select(m => m.Name).ToList(), perPair));
    }

    /// <summary>
    /// A sharded run may split a dataset's tracing by pairs, as many pieces as pairs are traced (every pair, taken as 200
    /// as in <see cref="EstimatedCost"/>, when unbounded): every matrix of a piece covers its pairs.
    /// </summary>
    public override int MaxChunks(KnowledgeOptions options, StepPart part) => options.MaxPairs ?? 200;

    /// <summary>
    /// Piece k of n: the same curation and prompts as the whole (<see cref="KnowledgeAnalysis.Prepare"/>), every matrix
    /// traced over prompts [P·k/n, P·(k+1)/n). The first piece also carries the curation.
    /// </summary>
    public override JsonNode RunChunk(StepContext context, KnowledgeOptions options, StepPart part)
    {
        var (plan, models) = Prepare(context, options, part);
        var (first, count) = part.Range(plan.Prompts.Count);
        var perPair = KnowledgeAnalysis.Trace(plan, models, first, count, Progress(context, models, options), context.Cancellation);
        var chunk = new KnowledgeChunk(part.Chunk, part.Chunks, plan.Dataset, models.Select(m => m.Name).ToList(), first, plan.Prompts.Count,
            part.Chunk == 0 ? plan.Curation : null, plan.SubjectTokens, plan.ObjectTokens, plan.Labels, plan.Tracing,
            plan.Prompts.Skip(first).Take(count).ToList(),
            perPair.Select(m => new KnowledgeChunkMatrix(m.Key, m.Value.Select(t => new KnowledgeChunkTrace(KnowledgeMatrix.ToJagged(t.Values), t.CleanTrue, t.CleanFalse)).ToList())).ToList());
        return JsonSerializer.SerializeToNode(chunk, ResultsJson.Strict)!;
    }

    /// <summary>The pieces' prompts and traces in order, then the same result and files as <see cref="Run"/> over the whole dataset.</summary>
    public override StepResult<KnowledgeSection> Combine(string outputDirectory, KnowledgeOptions options, StepPart part, IReadOnlyList<JsonNode> chunks)
    {
        var pieces = chunks.Select((c, i) => c.Deserialize<KnowledgeChunk>(ResultsJson.Strict)
            ?? throw new InvalidArgumentException("a piece of the knowledge analysis is null", $"chunks[{i}]", null)).ToList();
        var p0 = pieces[0];
        for (int i = 0; i < pieces.Count; i++)
        {
            var p = pieces[i];
            if (p.Chunk != i || p.Chunks != pieces.Count) Throw.Argument($"piece {i} of {pieces.Count} expected", $"chunks[{i}].chunk", $"{p.Chunk}/{p.Chunks}");
            if (p.Dataset != p0.Dataset || p.TotalPrompts != p0.TotalPrompts || !p.Models.SequenceEqual(p0.Models))
                Throw.Argument($"piece {i} is of another run (dataset {p.Dataset}, {p.TotalPrompts} prompts, models {string.Join(",", p.Models)})", $"chunks[{i}]", p.Dataset);
            // The prompts RunChunk traced for this piece: the same range, so together the pieces hold every prompt once.
            var (first, count) = part.ChunkOf(i, pieces.Count).Range(p.TotalPrompts);
            if (p.First != first || p.Prompts.Count != count)
                Throw.Argument($"piece {i} should hold prompts {first}..{first + count - 1}", $"chunks[{i}].first", p.First);
        }
        var curation = p0.Curation ?? throw new InvalidArgumentException("the first piece carries no curation", "chunks[0].curation", null);
        var plan = new KnowledgePlan(p0.Dataset, curation, p0.SubjectTokens, p0.ObjectTokens, pieces.SelectMany(p => p.Prompts).ToList(), p0.Labels, p0.Tracing, options);
        var perPair = p0.Matrices.ToDictionary(m => m.Model, m => (IReadOnlyList<PairTrace>)pieces.SelectMany(p =>
            (p.Matrices.FirstOrDefault(x => x.Model == m.Model) ?? throw new InvalidArgumentException("a piece lacks a matrix", $"chunks[{p.Chunk}].matrices", m.Model))
            .Pairs.Select(t => new PairTrace(KnowledgeMatrix.FromJagged(t.Values), t.CleanTrue, t.CleanFalse))).ToList());
        return Finish(outputDirectory, KnowledgeAnalysis.Assemble(plan, p0.Models, perPair));
    }

    static (KnowledgePlan Plan, List<KnowledgeModel> Models) Prepare(StepContext context, KnowledgeOptions options, StepPart part)
    {
        var ds = context.Dataset(part.Dataset!);
        // The synthetic world's own examples, or for a CSV patching.py's where it has them and few_shot_samples.json's otherwise.
        var fewShot = DatasetSpec.IsSynthetic(part.Dataset!) ? ds.FewShot!
            : TracingPrompts.ExamplesFor(ds.Data.Name, ds.FewShot, "datasets", ds.Spec);
        var models = context.Models.Select(m => new KnowledgeModel(m.Name, m.Model)).ToList();
        return (KnowledgeAnalysis.Prepare(ds.Data, context.Tokenizer, models[0].Model.Config, fewShot, options), models);
    }

    static StepResult<KnowledgeSection> Finish(string outputDirectory, KnowledgeResult result)
    {
        KnowledgeReport.Write(outputDirectory, result);
        return new StepResult<KnowledgeSection>(KnowledgeSection.From(result), KnowledgeReport.Markdown(result));
    }

    /// <summary>The step's progress: tracing reports once per pair of each matrix in turn, so a report after a complete matrix starts the next.</summary>
    static SyncProgress<CaptureProgress> Progress(StepContext context, IReadOnlyList<KnowledgeModel> models, KnowledgeOptions options)
    {
        int traces = KnowledgeAnalysis.Matrices(models.Select(m => m.Name).ToList(), options.Transfer).Count;
        int matrix = 0;
        bool complete = false;
        return new SyncProgress<CaptureProgress>(p =>
        {
            if (complete) matrix++;
            complete = p.PromptsDone == p.Prompts;
            double fraction = (matrix + (double)p.PromptsDone / Math.Max(1, p.Prompts)) / traces;
            context.Progress.Report(new StepProgress(fraction, $"matrix {matrix + 1}/{traces}, pair {p.PromptsDone}/{p.Prompts}"));
        });
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

/// <summary>
/// One piece of a dataset's tracing, as the shard's journal keeps it: which piece, the run it belongs to (dataset,
/// models, total prompts), its prompts from <see cref="First"/> and every matrix's traces of them; the first piece also
/// carries the curation. <see cref="KnowledgeStep.Combine"/> puts the pieces together.
/// </summary>
public sealed record KnowledgeChunk(
    int Chunk,
    int Chunks,
    string Dataset,
    IReadOnlyList<string> Models,
    int First,
    int TotalPrompts,
    CurationResult? Curation,
    int SubjectTokens,
    int ObjectTokens,
    IReadOnlyList<string> Labels,
    TracingOptions Tracing,
    IReadOnlyList<TracingPrompt> Prompts,
    IReadOnlyList<KnowledgeChunkMatrix> Matrices);

/// <summary>A matrix's traces of a piece's prompts, in order.</summary>
public sealed record KnowledgeChunkMatrix(string Model, IReadOnlyList<KnowledgeChunkTrace> Pairs);

/// <summary>A <see cref="PairTrace"/> as JSON: its [layers][positions] values and clean scores.</summary>
public sealed record KnowledgeChunkTrace(double[][] Values, double CleanTrue, double CleanFalse);
