using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>How the unpenalised 1-D fit ended: at the maximum-likelihood estimate, or at the separating limit (no MLE exists).</summary>
public enum OneDimensionalFit
{
    /// <summary>The classes overlap: the unique maximum-likelihood (w, b), found by Newton's method.</summary>
    MaximumLikelihood,

    /// <summary>
    /// The projections separate the classes (or touch): the likelihood has no maximum, w grows without bound, and the
    /// decision threshold tends to the midpoint of the gap (the maximum-margin separator the unpenalised logistic path
    /// converges to in direction).
    /// </summary>
    Separated,

    /// <summary>Every projection is the same: w = 0 and b = log(n_true / n_false).</summary>
    Constant,
}

/// <summary>
/// Unpenalised logistic regression with an intercept on one feature: scikit-learn's
/// <c>LogisticRegression(penalty=None, fit_intercept=True)</c> as the paper's MMProbe uses it on raw projections
/// (probes.py:175-176 and 185-187). In double precision, with no standardisation.
/// </summary>
internal static class UnpenalisedLogistic
{
    /// <summary>
    /// Fits logit = w·x + b to labels 0/1. With overlapping classes, Newton's method to the maximum-likelihood estimate
    /// (the score equations Σ(p − y) = 0 and Σ(p − y)x = 0 hold to ~1e-12 relative). With separated classes, the
    /// threshold −b/w is the gap's midpoint and w = 2 / gap (so the nearest projections sit at logits ±1).
    /// </summary>
    public static (double W, double B, OneDimensionalFit Kind) Fit(ReadOnlySpan<double> x, ReadOnlySpan<int> labels)
    {
        if (x.Length == 0 || x.Length != labels.Length) Throw.Argument("the fit needs one label per value, at least one", "rows", x.Length);
        int n1 = 0;
        double min0 = double.PositiveInfinity, max0 = double.NegativeInfinity, min1 = double.PositiveInfinity, max1 = double.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            if (!double.IsFinite(x[i])) Throw.Argument("projections must be finite", "projection", x[i]);
            if (labels[i] == 1) { n1++; min1 = Math.Min(min1, x[i]); max1 = Math.Max(max1, x[i]); }
            else { min0 = Math.Min(min0, x[i]); max0 = Math.Max(max0, x[i]); }
        }
        int n0 = x.Length - n1;
        if (n1 == 0 || n0 == 0) Throw.Argument("the fit needs both classes", "labels", $"{n1} true, {n0} false");
        if (Math.Min(min0, min1) == Math.Max(max0, max1)) return (0, Math.Log((double)n1 / n0), OneDimensionalFit.Constant);
        // The MLE exists iff the classes overlap strictly on both sides.
        if (max0 <= min1) return Separating(max0, min1, +1, min0, max1);
        if (max1 <= min0) return Separating(max1, min0, -1, min1, max0);
        return Newton(x, labels, n1, n0);
    }

    static (double, double, OneDimensionalFit) Separating(double lowEnd, double highStart, int sign, double lo, double hi)
    {
        double gap = highStart - lowEnd, mid = (lowEnd + highStart) / 2;
        // Touching classes (gap 0): any positive scale; the shared value sits on the threshold.
        double w = sign * (gap > 0 ? 2 / gap : 2 / (hi - lo));
        return (w, -w * mid, OneDimensionalFit.Separated);
    }

    static (double, double, OneDimensionalFit) Newton(ReadOnlySpan<double> x, ReadOnlySpan<int> labels, int n1, int n0)
    {
        // Centre and scale x for conditioning; Newton's iterates are invariant to it, the answer is mapped back.
        double mean = 0;
        foreach (var v in x) mean += v;
        mean /= x.Length;
        double sd = 0;
        foreach (var v in x) sd += (v - mean) * (v - mean);
        sd = Math.Sqrt(sd / x.Length);
        double w = 0, b = Math.Log((double)n1 / n0);
        double loss = Loss(x, labels, mean, sd, w, b);
        for (int it = 0; it < 200; it++)
        {
            double gw = 0, gb = 0, hww = 0, hwb = 0, hbb = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double z = (x[i] - mean) / sd;
                double p = Sigmoid(w * z + b), r = p - labels[i], h = p * (1 - p);
                gw += r * z; gb += r;
                hww += h * z * z; hwb += h * z; hbb += h;
            }
            if (Math.Max(Math.Abs(gw), Math.Abs(gb)) <= 1e-15 * x.Length) break;
            double det = hww * hbb - hwb * hwb;
            if (!(det > 0)) break;
            double dw = (hbb * gw - hwb * gb) / det, db = (hww * gb - hwb * gw) / det;
            // Damped: halve the step until the loss does not rise (the plain step converges from the start used here,
            // the check guards overflow on nearly separated data). Near the optimum the loss is flat to rounding, so a
            // rise within rounding does not count.
            double step = 1, next = double.NaN, slack = 1e-13 * Math.Max(1, loss);
            for (int k = 0; k < 60; k++)
            {
                next = Loss(x, labels, mean, sd, w - step * dw, b - step * db);
                if (next <= loss + slack) break;
                step /= 2;
            }
            if (!(next <= loss + slack)) break;
            w -= step * dw;
            b -= step * db;
            bool small = Math.Abs(step * dw) <= 1e-15 * Math.Max(1, Math.Abs(w)) && Math.Abs(step * db) <= 1e-15 * Math.Max(1, Math.Abs(b));
            loss = next;
            if (small) break;
        }
        // logit = w·(x − mean)/sd + b
        return (w / sd, b - w * mean / sd, OneDimensionalFit.MaximumLikelihood);
    }

    static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    static double Loss(ReadOnlySpan<double> x, ReadOnlySpan<int> labels, double mean, double sd, double w, double b)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double m = (labels[i] == 1 ? 1 : -1) * (w * (x[i] - mean) / sd + b);
            s += m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m));
        }
        return s;
    }
}
