using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>The truthfulness direction t = mean(true) − mean(false) and cosine similarities between directions.</summary>
public static class TruthDirection
{
    /// <summary>mean of the true rows − mean of the false rows; both classes must be present.</summary>
    public static double[] MeanDifference(ActivationSet set)
    {
        int nt = set.TrueCount, nf = set.Count - nt;
        if (nt == 0 || nf == 0) Throw.Argument("the direction needs true and false statements", "labels", $"{nt} true, {nf} false");
        var t = new double[set.Dim];
        var f = new double[set.Dim];
        for (int i = 0; i < set.Count; i++)
        {
            var acc = set.Labels[i] == 1 ? t : f;
            var r = set.Row(i);
            for (int j = 0; j < set.Dim; j++) acc[j] += r[j];
        }
        for (int j = 0; j < set.Dim; j++) t[j] = t[j] / nt - f[j] / nf;
        return t;
    }

    /// <summary>a·b / (|a| |b|); NaN when either vector is zero.</summary>
    public static double Cosine(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) Throw.Argument($"vectors differ in length ({a.Length} vs {b.Length})", "direction", b.Length);
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            ab += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }
        return aa == 0 || bb == 0 ? double.NaN : ab / Math.Sqrt(aa * bb);
    }

    /// <summary>Pairwise cosines [n][n] of n directions (1 on the diagonal for non-zero directions).</summary>
    public static double[][] CosineMatrix(IReadOnlyList<double[]> directions)
    {
        int n = directions.Count;
        var m = new double[n][];
        for (int i = 0; i < n; i++)
        {
            m[i] = new double[n];
            for (int j = 0; j < n; j++) m[i][j] = Cosine(directions[i], directions[j]);
        }
        return m;
    }

    internal static double Dot(ReadOnlySpan<float> x, ReadOnlySpan<double> w)
    {
        double s = 0;
        for (int j = 0; j < x.Length; j++) s += x[j] * w[j];
        return s;
    }
}
