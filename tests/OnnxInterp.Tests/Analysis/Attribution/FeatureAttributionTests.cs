using OnnxInterp.Analysis.Attribution;

namespace OnnxInterp.Tests.Analysis.Attribution;

/// <summary>
/// The three estimators against functions whose attributions are known: a linear scalar (every method recovers its weights
/// exactly), Shapley values by enumeration (KernelSHAP enumerated equals them; sampled, it converges to them), and
/// KernelSHAP's efficiency (Σ scores = f(x) − f(baseline), to 1e-9 relative: the constraint is solved exactly).
/// </summary>
public class FeatureAttributionTests
{
    static CoalitionFunction Batched(Func<bool[], double> f) => rows => rows.Select(f).ToArray();

    static double[] Weights(int m, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, m).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
    }

    /// <summary>A scalar with pairwise and three-way interactions and a saturation: nothing estimates it exactly but enumeration.</summary>
    static Func<bool[], double> Nonlinear(int m, int seed)
    {
        var rng = new Random(seed);
        var a = Enumerable.Range(0, m).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var b = new double[m, m];
        for (int i = 0; i < m; i++) for (int j = i + 1; j < m; j++) b[i, j] = rng.NextDouble() * 2 - 1;
        return z =>
        {
            double s = 0.3;
            for (int i = 0; i < m; i++) if (z[i]) s += a[i];
            for (int i = 0; i < m; i++) for (int j = i + 1; j < m; j++) if (z[i] && z[j]) s += b[i, j];
            if (z[0] && z[1] && z[2]) s += 1.5;
            return Math.Tanh(s / 2) * 3;
        };
    }

    [TestCase(7, 256)]   // KernelSHAP enumerates the 126 coalitions
    [TestCase(12, 64)]   // KernelSHAP samples 64 of 4094
    public void AllMethods_LinearScalar_RecoverTheWeightsExactly(int m, int coalitions)
    {
        var w = Weights(m, m);
        double F(bool[] z) => 0.7 + Enumerable.Range(0, m).Sum(i => z[i] ? w[i] : 0);
        var sampling = new AttributionSampling { Coalitions = coalitions, Seed = 3 };
        foreach (var method in Enum.GetValues<AttributionMethod>())
        {
            var r = FeatureAttribution.Run(method, m, Batched(F), sampling);
            Assert.That(r.Scores, Is.EqualTo(w).Within(1e-9), method.ToString());
            Assert.That((r.Full, r.Baseline), Is.EqualTo((0.7 + w.Sum(), 0.7)).Using<(double, double)>((x, y) => Math.Abs(x.Item1 - y.Item1) < 1e-12 && Math.Abs(x.Item2 - y.Item2) < 1e-12));
        }
    }

    [Test]
    public void Occlusion_RunsTheInputTheBaselineAndOneRowPerFeature()
    {
        var calls = new List<int>();
        var r = FeatureAttribution.Occlusion(5, rows => { calls.Add(rows.Count); return rows.Select(z => (double)z.Count(v => v)).ToArray(); });
        Assert.That(calls, Is.EqualTo(new[] { 7 }), "one batch: input, baseline, 5 occlusions");
        Assert.That(r.Scores, Is.All.EqualTo(1.0));
        Assert.That(r.Evaluations, Is.EqualTo(7));
    }

    [TestCase(6)]
    [TestCase(9)]
    public void KernelShap_Enumerated_EqualsExactShapleyValues(int m)
    {
        var f = Nonlinear(m, 11);
        var exact = FeatureAttribution.ExactShapley(m, f);
        var r = FeatureAttribution.KernelShap(m, Batched(f), new AttributionSampling { Coalitions = 1 << m });
        Assert.That(r.Evaluations, Is.EqualTo(1 << m), "every coalition");
        Assert.That(r.Scores, Is.EqualTo(exact).Within(1e-9));
    }

    [Test]
    public void ExactShapley_PairwiseInteractions_SplitEachInteractionInHalf()
    {
        // φ_i = a_i + Σ_j b_ij / 2 for f = Σ a_i z_i + Σ_{i<j} b_ij z_i z_j.
        double[] a = [1, -2, 0.5, 3];
        double F(bool[] z) => Enumerable.Range(0, 4).Sum(i => z[i] ? a[i] : 0) + (z[0] && z[1] ? 2 : 0) + (z[2] && z[3] ? -1 : 0);
        Assert.That(FeatureAttribution.ExactShapley(4, F), Is.EqualTo(new[] { 2, -1, 0, 2.5 }).Within(1e-12));
    }

    /// <summary>Efficiency is a constraint of the fit, not a property of the sample: it holds to rounding at any budget.</summary>
    [TestCase(12, 16, 1)]
    [TestCase(12, 200, 2)]
    [TestCase(20, 64, 3)]
    public void KernelShap_Sampled_ScoresSumToFullMinusBaseline(int m, int coalitions, int seed)
    {
        var f = Nonlinear(m, seed);
        var r = FeatureAttribution.KernelShap(m, Batched(f), new AttributionSampling { Coalitions = coalitions, Seed = seed });
        Assert.That(r.Evaluations, Is.EqualTo(coalitions + 2));
        Assert.That(r.EfficiencyGap, Is.LessThanOrEqualTo(1e-9 * (1 + Math.Abs(r.Full - r.Baseline))));
    }

    /// <summary>
    /// The sampler converges: the mean error (RMS over features, mean over 8 seeds) against exact Shapley values falls as the
    /// coalitions grow, 32 → 128 → 512, and at 512 of the 1022 coalitions it is under a tenth of the values' spread.
    /// </summary>
    [Test]
    public void KernelShap_Sampled_ConvergesToShapleyValuesWithMoreCoalitions()
    {
        const int m = 10;
        var f = Nonlinear(m, 5);
        var exact = FeatureAttribution.ExactShapley(m, f);
        double Error(int coalitions) => Enumerable.Range(1, 8).Average(seed =>
        {
            var r = FeatureAttribution.KernelShap(m, Batched(f), new AttributionSampling { Coalitions = coalitions, Seed = seed });
            return Math.Sqrt(r.Scores.Zip(exact, (x, y) => (x - y) * (x - y)).Average());
        });
        var errors = new[] { 32, 128, 512 }.Select(Error).ToArray();
        double spread = Math.Sqrt(exact.Average(x => x * x));
        TestContext.Out.WriteLine($"RMS error at 32/128/512 coalitions: {string.Join(" / ", errors.Select(e => e.ToString("0.0000")))}; RMS of the values {spread:0.000}");
        Assert.That(errors[1], Is.LessThan(errors[0]));
        Assert.That(errors[2], Is.LessThan(errors[1]));
        Assert.That(errors[2], Is.LessThan(0.1 * spread));
    }

    [Test]
    public void Lime_Ridge_ShrinksTowardZero()
    {
        var w = Weights(6, 1);
        double F(bool[] z) => Enumerable.Range(0, 6).Sum(i => z[i] ? w[i] : 0);
        var plain = FeatureAttribution.Lime(6, Batched(F), new AttributionSampling { Coalitions = 64 });
        var ridge = FeatureAttribution.Lime(6, Batched(F), new AttributionSampling { Coalitions = 64, LimeRidge = 5 });
        Assert.That(plain.Scores, Is.EqualTo(w).Within(1e-9));
        Assert.That(ridge.Scores.Sum(Math.Abs), Is.LessThan(plain.Scores.Sum(Math.Abs)));
    }

    [Test]
    public void BadInput_TypedErrorsNamingTheField()
    {
        var ok = Batched(z => 1);
        Assert.That(Assert.Throws<InvalidArgumentException>(() => FeatureAttribution.Occlusion(0, ok))!.Field, Is.EqualTo("features"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => FeatureAttribution.KernelShap(3, ok, new AttributionSampling { Coalitions = 0 }))!.Field, Is.EqualTo("coalitions"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => FeatureAttribution.Lime(3, ok, new AttributionSampling { LimeKernelWidth = 0 }))!.Field, Is.EqualTo("limeKernelWidth"));
        var nan = Assert.Throws<InvalidArgumentException>(() => FeatureAttribution.Occlusion(2, Batched(z => z[0] ? double.NaN : 0)))!;
        Assert.That((nan.Field, nan.Value), Is.EqualTo(("scalar", "NaN")));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => FeatureAttribution.Occlusion(2, rows => [1.0]))!.Field, Is.EqualTo("coalitions"));
    }
}
