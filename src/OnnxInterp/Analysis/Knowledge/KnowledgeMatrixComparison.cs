using System.Text.RegularExpressions;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// How two knowledge matrices differ, as the paper's Table 1 reports it.
/// </summary>
/// <param name="Corr">Pearson correlation over all cells (flattened); NaN when either matrix is constant, as scipy's pearsonr gives.</param>
/// <param name="MaxAbsDiff">max |a − b| over all cells.</param>
/// <param name="MaxAbsDiffK">max |a − b| over the knowledge columns (subject and object tokens); NaN when there are none.</param>
/// <param name="Normalized">Whether the metrics were computed on the normalised matrices (the paper's choice).</param>
/// <param name="Difference">a − b, cell by cell, on the matrices the metrics used ([layers, positions]).</param>
/// <param name="KnowledgeColumns">The column indices <see cref="MaxAbsDiffK"/> looked at.</param>
public sealed record KnowledgeComparisonResult(double Corr, double MaxAbsDiff, double MaxAbsDiffK, bool Normalized,
    double[,] Difference, IReadOnlyList<int> KnowledgeColumns);

/// <summary>
/// Compares two models' knowledge matrices (the paper's <c>compare_two_results</c> in
/// Knowledge+Truthfulness/patching_visualize.py). There each matrix is averaged over pairs, then normalised with
/// <c>normalize</c>, and all three Table 1 numbers come from the normalised matrices: <c>pearsonr</c> of the two
/// flattened normalised matrices, and the maxima of |diff| over all cells and over the subject/object columns of
/// <c>diff = normalize(a) − normalize(b)</c>. So <c>normalized</c> defaults to true; false computes the same
/// metrics on the raw averaged values.
/// </summary>
public static partial class KnowledgeComparison
{
    /// <summary>
    /// A subject or object column: "s" or "o" followed by digits ("s1", "o2"), the labels
    /// <see cref="PairCuration"/> gives; the paper's bracketed "[s1]", "[o2]" are accepted too.
    /// </summary>
    [GeneratedRegex(@"^(?:[so][0-9]+|\[[so][0-9]+\])$", RegexOptions.CultureInvariant)]
    private static partial Regex KnowledgeLabel();

    /// <summary>Whether a column label names a subject or object token, or the collapsed "knowledge" column of a template-free dataset.</summary>
    public static bool IsKnowledgeLabel(string label) => label is not null && (KnowledgeLabel().IsMatch(label) || label == "knowledge");

    /// <summary>Indices of the subject and object columns.</summary>
    public static IReadOnlyList<int> KnowledgeColumns(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return [.. Enumerable.Range(0, labels.Count).Where(i => IsKnowledgeLabel(labels[i]))];
    }

    /// <summary>
    /// Table 1's metrics for <paramref name="a"/> against <paramref name="b"/>. Both must have the same shape and the
    /// same position labels.
    /// </summary>
    public static KnowledgeComparisonResult Compare(KnowledgeMatrix a, KnowledgeMatrix b, bool normalized = true)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Layers != b.Layers || a.Positions != b.Positions)
            throw new InvalidArgumentException(
                $"knowledge matrices differ in shape: '{a.Model}' is {KnowledgeMatrix.Shape(a.Values)}, '{b.Model}' is {KnowledgeMatrix.Shape(b.Values)}",
                "values", $"{KnowledgeMatrix.Shape(a.Values)} vs {KnowledgeMatrix.Shape(b.Values)}");
        if (!a.PositionLabels.SequenceEqual(b.PositionLabels, StringComparer.Ordinal))
            throw new InvalidArgumentException(
                $"knowledge matrices differ in position labels: '{a.Model}' has [{string.Join(", ", a.PositionLabels)}], '{b.Model}' has [{string.Join(", ", b.PositionLabels)}]",
                "positionLabels", $"{string.Join(" ", a.PositionLabels)} vs {string.Join(" ", b.PositionLabels)}");

        var x = normalized ? KnowledgeMatrix.Normalize(a.Values) : a.Values;
        var y = normalized ? KnowledgeMatrix.Normalize(b.Values) : b.Values;
        int rows = a.Layers, cols = a.Positions;
        var knowledge = KnowledgeColumns(a.PositionLabels);
        var isKnowledge = new bool[cols];
        foreach (var c in knowledge) isKnowledge[c] = true;

        var diff = new double[rows, cols];
        double maxAll = 0, maxK = knowledge.Count == 0 ? double.NaN : 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                double d = x[r, c] - y[r, c], abs = Math.Abs(d);
                diff[r, c] = d;
                if (abs > maxAll) maxAll = abs;
                if (isKnowledge[c] && abs > maxK) maxK = abs;
            }
        return new KnowledgeComparisonResult(Pearson(x, y), maxAll, maxK, normalized, diff, knowledge);
    }

    /// <summary>
    /// Pearson's r over all cells of two same-shaped matrices (two-pass: means, then centred sums), clamped to
    /// [−1, 1]. NaN when either has zero variance.
    /// </summary>
    public static double Pearson(double[,] x, double[,] y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.GetLength(0) != y.GetLength(0) || x.GetLength(1) != y.GetLength(1))
            throw new InvalidArgumentException($"shapes differ: {KnowledgeMatrix.Shape(x)} vs {KnowledgeMatrix.Shape(y)}", "values",
                $"{KnowledgeMatrix.Shape(x)} vs {KnowledgeMatrix.Shape(y)}");
        int n = x.Length;
        if (n == 0) return double.NaN;
        double mx = 0, my = 0;
        foreach (var v in x) mx += v;
        foreach (var v in y) my += v;
        mx /= n;
        my /= n;
        double sxy = 0, sxx = 0, syy = 0;
        for (int r = 0; r < x.GetLength(0); r++)
            for (int c = 0; c < x.GetLength(1); c++)
            {
                double dx = x[r, c] - mx, dy = y[r, c] - my;
                sxy += dx * dy;
                sxx += dx * dx;
                syy += dy * dy;
            }
        if (sxx == 0 || syy == 0) return double.NaN;
        return Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1.0, 1.0);
    }
}
