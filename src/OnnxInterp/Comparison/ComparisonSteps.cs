using OnnxInterp.Comparison.Steps;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>The analyses a comparison runs, in report order. Adding an analysis is one adapter class and one line here.</summary>
public static class ComparisonSteps
{
    public static readonly IReadOnlyList<IComparisonStep> All =
    [
        new KnowledgeStep(),
        new RefusalStep(),
        new ConfidenceStep(),
        new TruthStep(),
    ];

    public static IReadOnlyList<string> Names => All.Select(s => s.Name).ToList();

    public static IComparisonStep Get(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new InvalidArgumentException($"unknown analysis; known: {string.Join(", ", Names)}", "analyses", name);

    /// <summary>The steps <paramref name="config"/> selects, in its order (or registry order when it names none).</summary>
    public static IReadOnlyList<IComparisonStep> Select(ComparisonConfig config, IReadOnlyList<IComparisonStep>? registry = null)
    {
        var all = registry ?? All;
        if (config.Analyses is null) return all;
        var dup = config.Analyses.GroupBy(a => a).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) Throw.Argument("an analysis is named twice", "analyses", dup.Key);
        return config.Analyses.Select(n => all.FirstOrDefault(s => s.Name == n)
            ?? throw new InvalidArgumentException($"unknown analysis; known: {string.Join(", ", all.Select(s => s.Name))}", "analyses", n)).ToList();
    }
}
