using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>
/// The analyses a comparison runs, in report order. Adding an analysis is one folder under Analysis/ (its options, its
/// section record, its <see cref="AnalysisStep{TOptions, TSection}"/> and report writer) and one line here. A comparison
/// that names no analyses runs those whose <see cref="IAnalysisStep.RunsByDefault"/> is set (all but diff and attribution:
/// the demo's results.json is pinned, and they run when named).
/// </summary>
public static class ComparisonSteps
{
    public static readonly IReadOnlyList<IAnalysisStep> All =
    [
        new KnowledgeStep(),
        new RefusalStep(),
        new ConfidenceStep(),
        new TruthStep(),
        new DiffStep(),
        new AttributionStep(),
    ];

    public static IReadOnlyList<string> Names => All.Select(s => s.Name).ToList();

    /// <summary>The registered analysis of type <typeparamref name="T"/> (a verb's, e.g. Of&lt;KnowledgeStep&gt;()).</summary>
    public static T Of<T>() where T : IAnalysisStep => All.OfType<T>().Single();

    public static IAnalysisStep Get(string name, IReadOnlyList<IAnalysisStep>? registry = null) =>
        (registry ?? All).FirstOrDefault(s => s.Name == name)
        ?? throw new InvalidArgumentException($"unknown analysis; known: {string.Join(", ", (registry ?? All).Select(s => s.Name))}", "analyses", name);

    /// <summary>The steps <paramref name="config"/> selects, in its order (or, when it names none, those that run by default, in registry order).</summary>
    public static IReadOnlyList<IAnalysisStep> Select(ComparisonConfig config, IReadOnlyList<IAnalysisStep>? registry = null)
    {
        var all = registry ?? All;
        if (config.Analyses is null) return all.Where(s => s.RunsByDefault).ToList();
        var dup = config.Analyses.GroupBy(a => a).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) Throw.Argument("an analysis is named twice", "analyses", dup.Key);
        return config.Analyses.Select(n => all.FirstOrDefault(s => s.Name == n)
            ?? throw new InvalidArgumentException($"unknown analysis; known: {string.Join(", ", all.Select(s => s.Name))}", "analyses", n)).ToList();
    }
}
