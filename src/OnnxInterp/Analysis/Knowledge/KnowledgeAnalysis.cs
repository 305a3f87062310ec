using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>A model taking part in the comparison; the first one given is the base.</summary>
public sealed record KnowledgeModel(string Name, IHookedModel Model);

public sealed record KnowledgeOptions
{
    /// <summary>
    /// Default: OnnxInterp's curation (each false statement used once, most common token counts) and a fresh
    /// few-shot order per pair. Paper: patching_process_data.py's curation (the paper's token counts per family,
    /// pairing by last word with reuse) and patching.py's prompts (Python's random.seed(1), one list shuffled in place
    /// per pair), every pair traced.
    /// </summary>
    public AnalysisProtocol Protocol { get; init; } = AnalysisProtocol.Default;

    public TracingMetric Metric { get; init; } = TracingMetric.LogitDiff;
    public bool Fast { get; init; } = true;

    /// <summary>Also patch base states into each post-trained model and back (cross-model transfer).</summary>
    public bool Transfer { get; init; } = true;

    /// <summary>Trace at most this many pairs (the first ones after curation); null traces all.</summary>
    public int? MaxPairs { get; init; }

    public int Seed { get; init; } = 1;
    public string TrueAnswer { get; init; } = JudgingAnswers.True;
    public string FalseAnswer { get; init; } = JudgingAnswers.False;
}

/// <summary>One row of the paper's Table 1: two matrices compared (normalised, as the paper does).</summary>
public sealed record KnowledgeComparisonRow(string A, string B, double Corr, double MaxAbsDiff, double MaxAbsDiffK);

public sealed record KnowledgeResult(
    string Dataset,
    CurationResult Curation,
    int SubjectTokens,
    int ObjectTokens,
    IReadOnlyList<TracingPrompt> Prompts,
    IReadOnlyList<KnowledgeMatrix> Matrices,
    IReadOnlyList<KnowledgeMatrix> Transfers,
    IReadOnlyList<KnowledgeComparisonRow> Comparisons,
    IReadOnlyDictionary<string, IReadOnlyList<PairTrace>> PerPair,
    KnowledgeOptions Options);

/// <summary>
/// A dataset's tracing before any model runs (<see cref="KnowledgeAnalysis.Prepare"/>): the curation, the prompts traced
/// (each patching the same positions), the matrices' column labels, and the tracing options with the answer tokens.
/// </summary>
public sealed record KnowledgePlan(
    string Dataset,
    CurationResult Curation,
    int SubjectTokens,
    int ObjectTokens,
    IReadOnlyList<TracingPrompt> Prompts,
    IReadOnlyList<string> Labels,
    TracingOptions Tracing,
    KnowledgeOptions Options);

/// <summary>
/// The knowledge-storage and knowledge-representation analyses over one dataset: curate pairs, build the
/// few-shot prompts, trace every model (a [layers × positions] matrix averaged over pairs), patch across models
/// (base → post and post → base), and compare the matrices as the paper's Table 1 does.
/// </summary>
public static class KnowledgeAnalysis
{
    public static KnowledgeResult Run(StatementDataset dataset, HfTokenizer tokenizer, IReadOnlyList<KnowledgeModel> models,
        IReadOnlyList<(string Statement, bool True)> fewShot, KnowledgeOptions? options = null,
        IProgress<CaptureProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        var plan = Prepare(dataset, tokenizer, models[0].Model.Config, fewShot, options);
        return Assemble(plan, models.Select(m => m.Name).ToList(), Trace(plan, models, 0, plan.Prompts.Count, progress, cancellation));
    }

    /// <summary>
    /// Everything before tracing, which every piece of a split run computes the same way: the answer tokens, the curated
    /// pairs and their prompts (the same for every model, from the base model's tokenizer and config).
    /// </summary>
    public static KnowledgePlan Prepare(StatementDataset dataset, HfTokenizer tokenizer, Checkpoints.ModelConfig baseConfig,
        IReadOnlyList<(string Statement, bool True)> fewShot, KnowledgeOptions? options = null)
    {
        var o = options ?? new KnowledgeOptions();
        var (trueId, falseId) = JudgingAnswers.Tokens(tokenizer, o.TrueAnswer, o.FalseAnswer, "knowledge");

        bool consecutive = IsConsecutiveRows(dataset.Name);
        var curation = consecutive ? PairCuration.CurateConsecutive(dataset, tokenizer) : Curate(dataset, tokenizer, o.Protocol, baseConfig);
        if (curation.Pairs.Count == 0) Throw.Argument("no true/false pairs survive curation for this tokenizer", "dataset", dataset.Name);
        int sTok = Count(curation.Pairs[0], TokenRole.Subject), oTok = Count(curation.Pairs[0], TokenRole.Object);
        var pairs = o.MaxPairs is int max ? curation.Pairs.Take(max).ToList() : curation.Pairs;
        var prompts = TracingPrompts.Build(pairs, fewShot, tokenizer, o.Seed, o.Protocol);
        if (prompts.Count == 0) Throw.Argument("no pair tokenises cleanly inside the few-shot prompt", "dataset", dataset.Name);
        if (!consecutive)
        {
            int n = prompts.GroupBy(p => p.Patched).OrderByDescending(g => g.Count()).First().Key;
            prompts = prompts.Where(p => p.Patched == n).ToList();
        }
        var labels = consecutive ? CollapsedLabels : prompts[0].Labels;
        var tracing = new TracingOptions { Metric = o.Metric, Fast = o.Fast, TrueToken = trueId, FalseToken = falseId };
        return new KnowledgePlan(dataset.Name, curation, sTok, oTok, prompts, labels, tracing, o);
    }

    /// <summary>
    /// The matrices an analysis of <paramref name="models"/> traces, in order: each model's own (source = target), then
    /// for each post-trained model, with transfer, base → post and post → base. Indices into the models.
    /// </summary>
    public static IReadOnlyList<(string Name, int Source, int Target)> Matrices(IReadOnlyList<string> models, bool transfer)
    {
        var list = models.Select((m, i) => (m, i, i)).ToList();
        if (transfer)
            for (int i = 1; i < models.Count; i++)
                list.AddRange([($"{models[0]}->{models[i]}", 0, i), ($"{models[i]}->{models[0]}", i, 0)]);
        return list;
    }

    /// <summary>
    /// Traces prompts [<paramref name="first"/>, first + <paramref name="count"/>) of the plan for every matrix
    /// (<see cref="Matrices"/>): each pair's trace depends on that pair alone, so pieces of the prompts traced apart (the
    /// shards of a split run) and put together in order are the traces of one run over all of them, bit for bit.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<PairTrace>> Trace(KnowledgePlan plan, IReadOnlyList<KnowledgeModel> models,
        int first, int count, IProgress<CaptureProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (first < 0 || count < 0 || first + count > plan.Prompts.Count)
            Throw.Argument($"the plan has {plan.Prompts.Count} prompts", "prompts", $"{first}+{count}");
        for (int i = 1; i < models.Count && plan.Options.Transfer; i++) ModelPair.CheckCompatible(models[0].Model, models[i].Model);
        var prompts = plan.Prompts.Skip(first).Take(count).ToList();
        bool consecutive = IsConsecutiveRows(plan.Dataset);
        var perPair = new Dictionary<string, IReadOnlyList<PairTrace>>();
        foreach (var (name, source, target) in Matrices(models.Select(m => m.Name).ToList(), plan.Options.Transfer))
            perPair[name] = prompts.Count == 0 ? []
                : consecutive ? TraceCollapsed(models[source].Model, models[target].Model, prompts, plan.Tracing, progress, cancellation)
                : CausalTracing.TracePairs(models[source].Model, models[target].Model, prompts, plan.Tracing, progress, cancellation);
        return perPair;
    }

    /// <summary>
    /// The result from every prompt's traces (<paramref name="perPair"/>: by matrix name, in prompt order): each matrix the
    /// mean over its pairs, and the paper's Table 1 rows.
    /// </summary>
    public static KnowledgeResult Assemble(KnowledgePlan plan, IReadOnlyList<string> models, IReadOnlyDictionary<string, IReadOnlyList<PairTrace>> perPair)
    {
        KnowledgeMatrix Matrix(string name)
        {
            var traces = perPair.GetValueOrDefault(name) ?? throw new InvalidArgumentException("no traces for this matrix", "perPair", name);
            if (traces.Count != plan.Prompts.Count) Throw.Argument($"expected {plan.Prompts.Count} traces, one per prompt", $"perPair[{name}]", traces.Count);
            return new KnowledgeMatrix(name, CausalTracing.Mean(traces), plan.Labels, traces.Count);
        }
        var matrices = models.Select(Matrix).ToList();
        var transfers = new List<KnowledgeMatrix>();
        var rows = new List<KnowledgeComparisonRow>();
        for (int i = 1; i < models.Count; i++)
        {
            rows.Add(Row(matrices[0], matrices[i]));
            if (!plan.Options.Transfer) continue;
            var forward = Matrix($"{models[0]}->{models[i]}");
            var backward = Matrix($"{models[i]}->{models[0]}");
            transfers.Add(forward);
            transfers.Add(backward);
            rows.Add(Row(matrices[i], forward));
            rows.Add(Row(matrices[0], backward));
        }
        var ordered = Matrices(models, plan.Options.Transfer).ToDictionary(m => m.Name, m => perPair[m.Name]);
        return new KnowledgeResult(plan.Dataset, plan.Curation, plan.SubjectTokens, plan.ObjectTokens, plan.Prompts, matrices, transfers, rows, ordered, plan.Options);
    }

    static KnowledgeComparisonRow Row(KnowledgeMatrix a, KnowledgeMatrix b)
    {
        var r = KnowledgeComparison.Compare(a, b, normalized: true);
        return new KnowledgeComparisonRow(a.Model, b.Model, r.Corr, r.MaxAbsDiff, r.MaxAbsDiffK);
    }

    static int Count(StatementPair p, TokenRole role) => p.Roles.Count(r => r == role);

    /// <summary>The columns of a collapsed map: where the two statements differ, the other statement and question positions, the last.</summary>
    public static readonly IReadOnlyList<string> CollapsedLabels = ["knowledge", "other", "last"];

    /// <summary>
    /// Datasets of consecutive true/false rows without a sentence template, traced with collapsed columns as the paper
    /// treats tulu_extracted (patching_process_data.py lines 27–36, patching_visualize.py compare_two_results_tulu).
    /// </summary>
    public static bool IsConsecutiveRows(string dataset) => dataset == "tulu_extracted";

    /// <summary>
    /// Traces each pair on its own (pairs differ in length) and collapses its [layers × positions] map into three
    /// columns, as patching_visualize.py (lines 330–352) does for tulu_extracted: the mean over the positions where the
    /// true and false prompts' tokens differ, the mean over the other positions except the last, and the last.
    /// </summary>
    static IReadOnlyList<PairTrace> TraceCollapsed(IHookedModel source, IHookedModel target,
        IReadOnlyList<TracingPrompt> prompts, TracingOptions o, IProgress<CaptureProgress>? progress, CancellationToken cancellation)
    {
        var traces = new List<PairTrace>();
        int layers = target.Config.NumLayers;
        foreach (var prompt in prompts)
        {
            var t = CausalTracing.TracePair(source, target, prompt, o, cancellation);
            int n = prompt.Patched, start = prompt.PrefixLength;
            var knowledge = Enumerable.Range(0, n).Where(p => prompt.TrueTokens[start + p] != prompt.FalseTokens[start + p]).ToList();
            var others = Enumerable.Range(0, n - 1).Where(p => !knowledge.Contains(p)).ToList();
            var collapsed = new double[layers, 3];
            for (int l = 0; l < layers; l++)
            {
                collapsed[l, 0] = knowledge.Count == 0 ? double.NaN : knowledge.Average(p => t.Values[l, p]);
                collapsed[l, 1] = others.Count == 0 ? double.NaN : others.Average(p => t.Values[l, p]);
                collapsed[l, 2] = t.Values[l, n - 1];
            }
            traces.Add(new PairTrace(collapsed, t.CleanTrue, t.CleanFalse));
            progress?.Report(new CaptureProgress(traces.Count, prompts.Count));
        }
        return traces;
    }

    /// <summary>
    /// The pairs a protocol traces. Every prompt must patch the same positions, so one subject/object token count is
    /// kept: under the paper's protocol the counts its code fixes for this tokenizer family and dataset
    /// (<see cref="KnowledgePaperSettings"/>), else (and for datasets or families the paper has no pattern for) the most
    /// common counts among the fitting pairs.
    /// </summary>
    public static CurationResult Curate(StatementDataset dataset, HfTokenizer tokenizer, AnalysisProtocol protocol, Checkpoints.ModelConfig config)
    {
        if (protocol == AnalysisProtocol.Paper)
        {
            var family = PaperModels.TokenizerFamilyOf(config);
            var table = KnowledgePaperSettings.TokenCounts(family, dataset.Name);
            var counts = table ?? MostCommonCounts(dataset, tokenizer);
            if (counts is not var (s, o))
                return new CurationResult(dataset.Name, [], dataset.TrueCount, dataset.Statements.Count - dataset.TrueCount, 0, 0, 0) { Rule = "no statement fits the template" };
            string why = table is not null
                ? $"the paper's {family} pattern: {s} subject + {o} object tokens (patching_process_data.py)"
                : $"no pattern in the paper for a {(family == PaperFamily.Other ? "tokenizer outside its families" : $"{family} tokenizer")} on {dataset.Name}: the most common counts, {s} subject + {o} object tokens";
            return PairCuration.CuratePaper(dataset, tokenizer, s, o) with { Rule = why + "; paired by last word, the last false statement reused" };
        }
        return MostCommonCounts(dataset, tokenizer) is var (sTok, oTok)
            ? PairCuration.Curate(dataset, tokenizer, subjectTokens: sTok, objectTokens: oTok) with { Rule = $"the most common counts, {sTok} subject + {oTok} object tokens; each false statement used once" }
            : PairCuration.Curate(dataset, tokenizer) with { Rule = "no statement fits the template" };
    }

    static (int S, int O)? MostCommonCounts(StatementDataset dataset, HfTokenizer tokenizer)
    {
        var all = PairCuration.Curate(dataset, tokenizer);
        if (all.Pairs.Count == 0) return null;
        return all.Pairs.GroupBy(p => (S: Count(p, TokenRole.Subject), O: Count(p, TokenRole.Object)))
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key.S).First().Key;
    }

}
