using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>A linear truth probe: logit(x) &gt; 0 predicts "true".</summary>
public interface ITruthProbe
{
    double Logit(ReadOnlySpan<float> activation);
}

public static class TruthProbes
{
    /// <summary>The fraction of rows whose prediction (logit &gt; 0, as scikit-learn's predict) matches the label.</summary>
    public static double Accuracy(this ITruthProbe probe, ActivationSet set)
    {
        if (set.Count == 0) Throw.Argument("no rows to score", "rows", 0);
        int right = 0;
        for (int i = 0; i < set.Count; i++)
            if (probe.Logit(set.Row(i)) > 0 == (set.Labels[i] == 1)) right++;
        return (double)right / set.Count;
    }
}

/// <summary>
/// The mass-mean probe of the paper's code (probes.py:154-191 MMProbe): the direction t = mean(true) − mean(false) of
/// the training rows; a row's projection x·t goes through a one-dimensional logistic regression that fits
/// <see cref="Scale"/> and <see cref="Bias"/>: logit = Scale·(x·t) + Bias, predicting true when it is positive (as
/// scikit-learn's predict).
/// </summary>
public sealed record MassMeanProbe(double[] Direction, double Scale, double Bias) : ITruthProbe
{
    /// <summary>
    /// The default protocol's 1-D fit: on standardised projections with C = 1e6 (a negligible penalty that keeps the fit
    /// finite when the projections separate the classes). The paper protocol fits unpenalised on raw projections.
    /// </summary>
    public const double OneDimensionalC = 1e6;

    public static MassMeanProbe Fit(ActivationSet train, AnalysisProtocol protocol = AnalysisProtocol.Default)
    {
        var t = TruthDirection.MeanDifference(train);
        return WithDirection(train, t, protocol);
    }

    /// <summary>
    /// Fits scale and bias for a given direction (the paper's MMProbe.from_probe). <see cref="AnalysisProtocol.Paper"/>:
    /// <c>LogisticRegression(penalty=None, fit_intercept=True).fit(proj[:, None], labels)</c> on the raw projections
    /// (probes.py:173-176), by <see cref="UnpenalisedLogistic"/>; <see cref="AnalysisProtocol.Default"/>: standardised
    /// projections, C = <see cref="OneDimensionalC"/>.
    /// </summary>
    public static MassMeanProbe WithDirection(ActivationSet train, double[] direction, AnalysisProtocol protocol = AnalysisProtocol.Default)
    {
        if (direction.Length != train.Dim) Throw.Argument($"direction has {direction.Length} components, activations {train.Dim}", "direction", direction.Length);
        var proj = new double[train.Count];
        for (int i = 0; i < train.Count; i++) proj[i] = TruthDirection.Dot(train.Row(i), direction);
        if (protocol == AnalysisProtocol.Paper)
        {
            var (pw, pb, _) = UnpenalisedLogistic.Fit(proj, train.Labels);
            return new MassMeanProbe(direction, pw, pb);
        }
        double mean = proj.Average();
        double sd = Math.Sqrt(proj.Sum(p => (p - mean) * (p - mean)) / proj.Length);
        if (!(sd > 0)) sd = 1;
        var z = proj.Select(p => (p - mean) / sd).ToArray();
        var (w, b, _) = LogisticFit.Fit(z, z.Length, 1, train.Labels, OneDimensionalC);
        // logit = w·(p − mean)/sd + b
        return new MassMeanProbe(direction, w[0] / sd, b - w[0] * mean / sd);
    }

    public double Logit(ReadOnlySpan<float> activation) => Scale * TruthDirection.Dot(activation, Direction) + Bias;
}

/// <summary>
/// Plain logistic regression on the full activation: L2-regularised weights, unpenalised intercept, scikit-learn's
/// LogisticRegression(C) objective, fitted by L-BFGS.
/// </summary>
public sealed record LogisticProbe(double[] Weights, double Bias, FitInfo Info) : ITruthProbe
{
    public const double DefaultC = 1.0;

    public static LogisticProbe Fit(ActivationSet train, double c = DefaultC)
    {
        var (w, b, info) = LogisticFit.Fit(LogisticFit.ToDouble(train), train.Count, train.Dim, train.Labels, c);
        return new LogisticProbe(w, b, info);
    }

    public double Logit(ReadOnlySpan<float> activation) => TruthDirection.Dot(activation, Weights) + Bias;
}
