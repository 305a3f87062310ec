using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Analysis.Truth;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>Directions, cosines, probes, folds and effect formulas against values computed by hand or by a naive reference.</summary>
public class TruthMathTests
{
    static ActivationSet Set(int dim, params (double[] X, int Label)[] rows) =>
        new(rows.SelectMany(r => r.X.Select(v => (float)v)).ToArray(), dim, rows.Select(r => r.Label).ToArray());

    [Test]
    public void MeanDifference_TwoByTwo_IsMeanTrueMinusMeanFalse()
    {
        // true (1,2), (3,4): mean (2,3); false (0,0), (2,−2): mean (1,−1).
        var s = Set(2, ([1, 2], 1), ([0, 0], 0), ([3, 4], 1), ([2, -2], 0));
        Assert.That(TruthDirection.MeanDifference(s), Is.EqualTo(new[] { 1.0, 4.0 }).Within(1e-12));
    }

    [Test]
    public void MeanDifference_OneClassOnly_Throws()
    {
        var s = Set(1, ([1], 1), ([2], 1));
        Assert.That(() => TruthDirection.MeanDifference(s), Throws.TypeOf<InvalidArgumentException>().With.Message.Contains("2 true, 0 false"));
    }

    [Test]
    public void Centered_SubtractsTheColumnMean()
    {
        // column means (1.5, 1)
        var c = Set(2, ([1, 2], 1), ([0, 0], 0), ([3, 4], 1), ([2, -2], 0)).Centered();
        Assert.That(c.Data, Is.EqualTo(new[] { -0.5f, 1, -1.5f, -1, 1.5f, 3, 0.5f, -3 }).Within(1e-6));
        Assert.That(c.Labels, Is.EqualTo(new[] { 1, 0, 1, 0 }));
    }

    [Test]
    public void Centered_ShiftingADataset_LeavesTheDirectionUnchanged_ButPoolingWithoutCentringDoesNot()
    {
        // Two datasets with the same truth direction (+x) but far-apart means (0 and 10 on x), unbalanced (2 true, 1 false
        // in the second): pooling raw rows mixes the offset into the direction, centring each first does not.
        var a = Set(1, ([1], 1), ([-1], 0));
        var b = Set(1, ([11], 1), ([11], 1), ([9], 0));
        var raw = TruthDirection.MeanDifference(ActivationSet.Concat([a, b]));
        var centred = TruthDirection.MeanDifference(ActivationSet.Concat([a.Centered(), b.Centered()]));
        // raw: mean true (1+11+11)/3 = 23/3, mean false (−1+9)/2 = 4 → 11/3.
        Assert.That(raw[0], Is.EqualTo(11.0 / 3).Within(1e-9));
        // centred: a → ±1; b mean 31/3 → true 2/3, 2/3, false −4/3; mean true (1 + 4/3)/3 = 7/9, mean false (−1 − 4/3)/2 = −7/6 → 35/18.
        Assert.That(centred[0], Is.EqualTo(35.0 / 18).Within(1e-6));
    }

    [Test]
    public void Cosine_HandValues()
    {
        Assert.That(TruthDirection.Cosine([1, 0], [1, 1]), Is.EqualTo(1 / Math.Sqrt(2)).Within(1e-12));
        Assert.That(TruthDirection.Cosine([1, 2], [-2, 1]), Is.EqualTo(0).Within(1e-12));
        Assert.That(TruthDirection.Cosine([1, 2], [-2, -4]), Is.EqualTo(-1).Within(1e-12));
        Assert.That(TruthDirection.Cosine([0, 0], [1, 1]), Is.NaN);
        var m = TruthDirection.CosineMatrix([[1, 0], [0, 1], [1, 1]]);
        double h = 1 / Math.Sqrt(2);
        Assert.That(m, Is.EqualTo(new[] { new[] { 1, 0, h }, [0, 1, h], [h, h, 1] }).Within(1e-12));
    }

    [Test]
    public void MassMeanProbe_SymmetricClasses_DirectionByHand_ZeroBias_AccuracyByHand()
    {
        // Invariant under x → −x with labels swapped, so the 1-D fit has bias 0 and predicts sign(x·t).
        var s = Set(2, ([2, 1], 1), ([1, 0], 1), ([-1, 3], 1), ([-2, -1], 0), ([-1, 0], 0), ([1, -3], 0));
        var p = MassMeanProbe.Fit(s);
        // mean true (2/3, 4/3), mean false (−2/3, −4/3) → t = (4/3, 8/3).
        Assert.That(p.Direction, Is.EqualTo(new[] { 4.0 / 3, 8.0 / 3 }).Within(1e-6));
        // Separable classes: the fit's scale is large and only the threshold −bias/scale is pinned (at 0; the nearest
        // projections are ±4/3).
        Assert.That(p.Scale, Is.GreaterThan(0));
        Assert.That(-p.Bias / p.Scale, Is.EqualTo(0).Within(1e-4));
        // projections of the true rows: 16/3, 4/3, 20/3 (all > 0), so everything is right.
        Assert.That(p.Accuracy(s), Is.EqualTo(1.0));
        // A held-out true row at (3, −2): projection 4 − 16/3 < 0 → predicted false.
        Assert.That(p.Accuracy(Set(2, ([3, -2], 1))), Is.EqualTo(0.0));
    }

    [Test]
    public void MassMeanProbe_OverlappingClasses_ScaleAndBiasMatchNaiveNewton()
    {
        var rng = new Random(5);
        var rows = Enumerable.Range(0, 80).Select(i =>
        {
            int label = i % 2;
            return (new[] { rng.NextDouble() * 2 - 1 + (label == 1 ? 0.4 : -0.1), rng.NextDouble() * 2 - 1 }, label);
        }).ToArray();
        var s = Set(2, rows);
        var p = MassMeanProbe.Fit(s);
        var t = TruthDirection.MeanDifference(s);
        Assert.That(p.Direction, Is.EqualTo(t).Within(1e-12));
        var proj = rows.Select(r => (float)r.Item1[0] * t[0] + (float)r.Item1[1] * t[1]).Select(v => new[] { v }).ToArray();
        // The paper fits this unpenalised; a 1e6 C changes nothing visible.
        var (w, b) = NaiveNewton(proj, rows.Select(r => r.label).ToArray(), c: double.PositiveInfinity);
        Assert.That(p.Scale, Is.EqualTo(w[0]).Within(1e-4 * Math.Abs(w[0])));
        Assert.That(p.Bias, Is.EqualTo(b).Within(1e-4 * Math.Max(1, Math.Abs(b))));
    }

    [TestCase(1.0)]
    [TestCase(0.05)]
    public void LogisticProbe_RandomOverlappingData_MatchesNaiveNewton(double c)
    {
        var rng = new Random(11);
        int n = 90, d = 4;
        var truth = new[] { 1.5, -2.0, 0.5, 0.0 };
        var x = new double[n][];
        var labels = new int[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
            double z = x[i].Zip(truth, (a, b) => a * b).Sum() + 0.3;
            labels[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-z)) ? 1 : 0;
        }
        var set = new ActivationSet(x.SelectMany(r => r.Select(v => (float)v)).ToArray(), d, labels);
        var probe = LogisticProbe.Fit(set, c);
        var (w, b) = NaiveNewton(x.Select(r => r.Select(v => (double)(float)v).ToArray()).ToArray(), labels, c);
        Assert.That(probe.Info.Converged, Is.True);
        Assert.That(probe.Weights, Is.EqualTo(w).Within(1e-6));
        Assert.That(probe.Bias, Is.EqualTo(b).Within(1e-6));
    }

    /// <summary>
    /// Newton's method on Σ log-loss + |w|²/(2C) (scikit-learn's objective; C = ∞: unpenalised) with an explicit Hessian:
    /// the reference for the L-BFGS fit.
    /// </summary>
    static (double[] W, double B) NaiveNewton(double[][] x, int[] y, double c)
    {
        int n = x.Length, d = x[0].Length;
        var theta = Vector<double>.Build.Dense(d + 1);
        double reg = double.IsInfinity(c) ? 0 : 1 / c;
        for (int it = 0; it < 100; it++)
        {
            var g = Vector<double>.Build.Dense(d + 1);
            var h = Matrix<double>.Build.Dense(d + 1, d + 1);
            for (int i = 0; i < n; i++)
            {
                var xi = Vector<double>.Build.Dense([.. x[i], 1.0]);
                double p = 1 / (1 + Math.Exp(-xi.DotProduct(theta)));
                g += xi * (p - y[i]);
                h += xi.OuterProduct(xi) * (p * (1 - p));
            }
            for (int j = 0; j < d; j++)
            {
                g[j] += reg * theta[j];
                h[j, j] += reg;
            }
            var step = h.Solve(g);
            theta -= step;
            if (step.AbsoluteMaximum() < 1e-13) break;
        }
        return (theta.SubVector(0, d).ToArray(), theta[d]);
    }

    /// <summary>A: true at +1, false at −1; B the same; C flipped and smaller (true −0.5, false +0.5). 1-D.</summary>
    static List<(string, ActivationSet)> ThreeDatasets(double sign = 1) =>
    [
        ("A", Set(1, ([sign], 1), ([-sign], 0), ([sign], 1), ([-sign], 0))),
        ("B", Set(1, ([sign], 1), ([-sign], 0), ([sign], 1), ([-sign], 0))),
        ("C", Set(1, ([-0.5 * sign], 1), ([0.5 * sign], 0), ([-0.5 * sign], 1), ([0.5 * sign], 0))),
    ];

    [Test]
    public void LeaveOneDatasetOut_ThreeDatasets_AccuraciesByHand()
    {
        var folds = ProbeEvaluation.Folds(ThreeDatasets());
        Assert.That(folds.Select(f => (f.Dataset, f.Train.Count, f.Test.Count)), Is.EqualTo(new[] { ("A", 8, 4), ("B", 8, 4), ("C", 8, 4) }));
        // Leaving out A: trained on B + C, t = 0.25 − (−0.25) = 0.5 > 0, bias 0 by symmetry: A all right. Same for B.
        // Leaving out C: trained on A + B, t = 2: C's true rows project to −1, all wrong.
        var acc = ProbeEvaluation.Evaluate(folds);
        Assert.That(acc.Select(a => a.MassMean), Is.EqualTo(new[] { 1.0, 1.0, 0.0 }));
        Assert.That(acc.Select(a => a.Logistic), Is.EqualTo(new double?[] { 1.0, 1.0, 0.0 }));
        Assert.That(ProbeEvaluation.Evaluate(folds, logistic: false).Select(a => a.Logistic), Is.All.Null);
    }

    [Test]
    public void Folds_OneDataset_SeededEightyTwentySplit()
    {
        var s = Set(1, Enumerable.Range(0, 10).Select(i => (new double[] { i }, i % 2)).ToArray());
        var folds = ProbeEvaluation.Folds([("only", s)], seed: 3);
        Assert.That(folds, Has.Count.EqualTo(1));
        Assert.That((folds[0].Train.Count, folds[0].Test.Count), Is.EqualTo((8, 2)));
        // Every row lands on exactly one side.
        var all = folds[0].Train.Data.Concat(folds[0].Test.Data).Order().ToArray();
        Assert.That(all, Is.EqualTo(Enumerable.Range(0, 10).Select(i => (float)i).ToArray()));
        Assert.That(ProbeEvaluation.Folds([("only", s)], seed: 3)[0].Test.Data, Is.EqualTo(folds[0].Test.Data), "same seed, same split");
    }

    [Test]
    public void Transfer_FlippedRepresentation_BaseProbeFailsWhereOwnProbeSucceeds()
    {
        var baseFolds = ProbeEvaluation.Folds(ThreeDatasets());
        var postFolds = ProbeEvaluation.Folds(ThreeDatasets(sign: -1));
        var rows = ProbeEvaluation.Transfer("post", baseFolds, postFolds);
        Assert.That(rows.Select(r => r.Dataset), Is.EqualTo(new[] { "A", "B", "C" }));
        Assert.That(rows.Select(r => r.BaseOnBase), Is.EqualTo(new[] { 1.0, 1.0, 0.0 }));
        // The post model's own probe learns the flipped direction: the same accuracies.
        Assert.That(rows.Select(r => r.Own), Is.EqualTo(new[] { 1.0, 1.0, 0.0 }));
        // The base probe (direction and bias unchanged) reads every post-model row backwards.
        Assert.That(rows.Select(r => r.BaseProbe), Is.EqualTo(new[] { 0.0, 0.0, 1.0 }));
        Assert.That(rows.Select(r => r.Difference), Is.EqualTo(new[] { -1.0, -1.0, 1.0 }));
    }

    [Test]
    public void Transfer_DifferentStatements_Throws()
    {
        var baseFolds = ProbeEvaluation.Folds(ThreeDatasets());
        var other = ProbeEvaluation.Folds(ThreeDatasets().Take(2).ToList());
        Assert.That(() => ProbeEvaluation.Transfer("post", baseFolds, other), Throws.TypeOf<InvalidArgumentException>());
    }

    [Test]
    public void InterventionEffects_HandValues()
    {
        // True statements: p_base 0.6, subtracting brings p_diff to −0.2: half of the way to −1.
        Assert.That(TruthIntervention.EffectTrueToFalse(0.6, -0.2), Is.EqualTo(0.5).Within(1e-12));
        // False statements: p_base −0.4, adding brings it to 0.3: half of the way to +1.
        Assert.That(TruthIntervention.EffectFalseToTrue(-0.4, 0.3), Is.EqualTo(0.5).Within(1e-12));
        Assert.That(TruthIntervention.EffectFalseToTrue(-0.4, -0.4), Is.EqualTo(0).Within(1e-12));
        var e = new InterventionEffect("base", "post", BaseTrue: 0.6, BaseFalse: -0.4, TrueToFalse: -1, FalseToTrue: 0.3);
        Assert.That(e.EffectTrueToFalse, Is.EqualTo(1.0).Within(1e-12));
        Assert.That(e.EffectFalseToTrue, Is.EqualTo(0.5).Within(1e-12));
        Assert.That(e.MeanEffect, Is.EqualTo(0.75).Within(1e-12));
    }

    [Test]
    public void BestLayer_Ties_TakeTheLowestLayer()
    {
        var p = new ModelProbes("m", [new LayerProbeAccuracy(0, 0.6, null, []), new LayerProbeAccuracy(1, 0.8, null, []), new LayerProbeAccuracy(2, 0.8, null, [])]);
        Assert.That(p.BestLayer, Is.EqualTo(1));
    }
}
