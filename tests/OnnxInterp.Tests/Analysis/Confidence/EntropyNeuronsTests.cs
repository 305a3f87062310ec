using OnnxInterp.Analysis.Confidence;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class EntropyNeuronsTests
{
    static float[] Random(int n, int seed, double scale = 1, double offset = 0)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(offset + scale * (rng.NextDouble() * 2 - 1))).ToArray();
    }

    /// <summary>TransformerLens' processing and LogitVar written out in double, one loop per definition.</summary>
    static double[] NaiveLogitVar(float[] wOut, float[] head, float[] g, int d)
    {
        int n = wOut.Length / d, v = head.Length / d;
        var u = new double[v, d];
        for (int t = 0; t < v; t++) for (int j = 0; j < d; j++) u[t, j] = (double)head[t * d + j] * g[j];
        for (int j = 0; j < d; j++)
        {
            double m = 0;
            for (int t = 0; t < v; t++) m += u[t, j];
            m /= v;
            for (int t = 0; t < v; t++) u[t, j] -= m;
        }
        var result = new double[n];
        for (int i = 0; i < n; i++)
        {
            var cos = new double[v];
            double wn = 0;
            for (int j = 0; j < d; j++) wn += (double)wOut[i * d + j] * wOut[i * d + j];
            for (int t = 0; t < v; t++)
            {
                double dot = 0, un = 0;
                for (int j = 0; j < d; j++) { dot += wOut[i * d + j] * u[t, j]; un += u[t, j] * u[t, j]; }
                cos[t] = dot / Math.Sqrt(wn * un);
            }
            double mean = cos.Average();
            result[i] = cos.Sum(c => (c - mean) * (c - mean)) / (v - 1);
        }
        return result;
    }

    [Test]
    public void LogitVar_SmallMatrices_MatchesNaiveDoubleComputation()
    {
        const int d = 6, n = 9, v = 13;
        var wOut = Random(n * d, 1);
        var head = Random(v * d, 2, scale: 2, offset: 0.3);  // an offset, so centring matters
        var g = Random(d, 3, scale: 0.5, offset: 1);
        var expected = NaiveLogitVar(wOut, head, g, d);

        var processed = (float[])head.Clone();
        EntropyNeurons.ProcessUnembed(processed, d, g);
        var actual = new float[n];
        EntropyNeurons.LogitVar(wOut, processed, d, actual);
        for (int i = 0; i < n; i++) Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-6 * expected[i]), $"neuron {i}");

        // Skipping the centring changes the answer: the processing is part of the definition.
        var raw = new float[n];
        EntropyNeurons.LogitVar(wOut, head, d, raw);
        Assert.That(Enumerable.Range(0, n).Max(i => Math.Abs(raw[i] - expected[i]) / expected[i]), Is.GreaterThan(0.01));
    }

    [Test]
    public void ProcessUnembed_FoldsNormWeightAndCentresOverVocabulary()
    {
        const int d = 3;
        float[] head = [1, 2, 3, 3, 2, 1];
        float[] g = [2, 1, 0.5f];
        EntropyNeurons.ProcessUnembed(head, d, g);
        // Folded rows [2, 2, 1.5] and [6, 2, 0.5]; column means [4, 2, 1].
        Assert.That(head, Is.EqualTo(new float[] { -2, 0, 0.5f, 2, 0, -0.5f }));
    }

    [Test]
    public void LogitVar_ZeroVector_HasZeroCosineEverywhere()
    {
        float[] wOut = [0, 0, 1, 0];
        float[] u = [1, 0, 0, 1, 1, 1];
        var lv = new float[2];
        EntropyNeurons.LogitVar(wOut, u, 2, lv);
        Assert.That(lv[0], Is.Zero);
        // Cosines of [1,0] with [1,0], [0,1], [1,1]/√2: 1, 0, 0.7071; unbiased variance by hand.
        double c = Math.Sqrt(0.5), m = (1 + c) / 3;
        Assert.That(lv[1], Is.EqualTo(((1 - m) * (1 - m) + m * m + (c - m) * (c - m)) / 2).Within(1e-6));
    }

    [Test]
    public void Norms_AreRowNorms()
    {
        var norms = new float[2];
        EntropyNeurons.Norms([3, 4, 0, 1, 2, 2], 3, norms);
        Assert.That(norms, Is.EqualTo(new float[] { 5, 3 }));
    }

    [TestCase(0.75, 3.25)]
    [TestCase(0.5, 2.5)]
    [TestCase(0.0, 1.0)]
    [TestCase(1.0, 4.0)]
    public void Quantile_LinearInterpolation_AsNumpy(double q, double expected) =>
        Assert.That(EntropyNeurons.Quantile([4, 1, 3, 2], q), Is.EqualTo(expected).Within(1e-12));

    [Test]
    public void Select_HandExample_SmallestLogitVarAmongNormsAboveThePercentile()
    {
        // Norms 1..8: the 75th percentile is 6.25, so candidates are 7 and 8 (indices 6, 7) plus the big index 2 (norm 9).
        float[] norms = [1, 2, 9, 3, 4, 5, 7, 8];
        float[] lv = [1e-9f, 1e-9f, 3e-4f, 1e-9f, 1e-9f, 1e-9f, 2e-4f, 5e-4f];
        var s = EntropyNeurons.Select(norms, lv, 75, 2, out double threshold, out int candidates);
        // Sorted norms 1,2,3,4,5,7,8,9: position 5.25 → 7 + 0.25 × (8 − 7) = 7.25.
        Assert.That(threshold, Is.EqualTo(7.25).Within(1e-12));
        Assert.That(candidates, Is.EqualTo(2));
        Assert.That(s.Select(n => n.Index), Is.EqualTo(new[] { 2, 7 }));
        Assert.That(s[0].Ratio, Is.EqualTo(9 / Math.Log(3e-4f)).Within(1e-9));

        // Ties in LogitVar go to the lower index; fewer candidates than asked gives all of them.
        float[] flat = [1, 1, 1, 1, 1, 1, 1, 1];
        var t = EntropyNeurons.Select(norms, flat, 0, 3, out _, out int c0);
        Assert.That(c0, Is.EqualTo(7), "strictly above the minimum");
        Assert.That(t.Select(n => n.Index), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(EntropyNeurons.Select(norms, lv, 75, 10, out _, out _), Has.Count.EqualTo(2));
    }

    [Test]
    public void Ratio_FloorsLogitVar() =>
        Assert.That(EntropyNeurons.Ratio(2, 0), Is.EqualTo(2 / Math.Log(1e-10)).Within(1e-15));

    [TestCase(100.0, 10)]
    [TestCase(-1.0, 10)]
    [TestCase(75.0, 0)]
    public void Select_BadParameters_AreTypedErrors(double percentile, int top)
    {
        var e = Assert.Throws<InvalidArgumentException>(() => EntropyNeurons.Select([1, 2], [1, 2], percentile, top, out _, out _));
        Assert.That(e!.Field, Is.EqualTo(top == 0 ? "top" : "percentile"));
    }

    static EntropyNeuronSet Set(string name, params (int Index, double Norm, double LogitVar)[] neurons) =>
        new(name, 0, new float[16], new float[16], 0, neurons.Length,
            neurons.Select(n => new EntropyNeuron(n.Index, n.Norm, n.LogitVar, EntropyNeurons.Ratio(n.Norm, n.LogitVar))).ToList());

    [Test]
    public void Overlap_HandExample_CountIouAndRatioDifferences()
    {
        var a = Set("a", (1, 2, Math.Exp(-4)), (5, 3, Math.Exp(-6)), (7, 1, Math.Exp(-2)));
        var b = Set("b", (5, 3, Math.Exp(-3)), (1, 2, Math.Exp(-4)), (9, 4, Math.Exp(-8)));
        var o = EntropyNeuronOverlap.Compare(a, b);
        Assert.That(o.Shared, Is.EqualTo(new[] { 1, 5 }));
        Assert.That(o.Overlap, Is.EqualTo(2));
        Assert.That(o.Iou, Is.EqualTo(0.5));
        // |r|: a = {1: 0.5, 5: 0.5, 7: 0.5}, b = {5: 1, 1: 0.5, 9: 0.5}; shared differences 0 and 0.5.
        Assert.That(o.MeanAbsRatioDiff, Is.EqualTo(0.25).Within(1e-12));
        Assert.That(o.MeanAbsRatio, Is.EqualTo(3.5 / 6).Within(1e-12));
        Assert.That((o.MeanAbsRatioA, o.MeanAbsRatioB), Is.EqualTo((0.5, 2.0 / 3)).Within(1e-12));

        var disjoint = EntropyNeuronOverlap.Compare(a, Set("c", (2, 1, 0.1)));
        Assert.That((disjoint.Overlap, disjoint.Iou, disjoint.MeanAbsRatioDiff), Is.EqualTo((0, 0.0, (double?)null)));
    }
}
