using OnnxInterp.Trainer.Kernels;

namespace OnnxInterp.Tests.Trainer;

/// <summary>
/// The attention kernel (matrix products per head) against a naive double-precision causal GQA attention and its
/// hand-derived gradient, on the family's shapes (T 96, head 32, 5 query heads per KV head) and on odd ones.
/// </summary>
public class CausalAttentionTests
{
    /// <summary>(T, head size, query heads per KV head, KV heads): the family's, a GQA with two KV heads, odd sizes off every tile edge.</summary>
    static readonly object[] Shapes = [new object[] { 96, 32, 5, 1 }, new object[] { 40, 16, 2, 2 }, new object[] { 7, 6, 3, 2 }];

    /// <summary>
    /// Scores sum hd products, outputs and gradients at most T: float rounding stays below ~(T + hd)·2⁻²⁴ of the
    /// tensor's scale (≤ 8e-6 here); the tolerance is 2e-5 of the largest reference entry, far below any wrong term.
    /// </summary>
    const double Tolerance = 2e-5;

    [TestCaseSource(nameof(Shapes))]
    public void ForwardAndBackward_RandomInputs_MatchNaiveDoubleReference(int t, int hd, int group, int kvHeads)
    {
        int heads = group * kvHeads, qs = heads * hd, kvs = kvHeads * hd;
        var rng = new Random(t * 31 + hd);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] q = R(t * qs), k = R(t * kvs), v = R(t * kvs), datt = R(t * qs);
        var att = new float[t * qs];
        var dq = new float[t * qs];
        var dk = new float[t * kvs];
        var dv = new float[t * kvs];
        for (int g = 0; g < kvHeads; g++)
        {
            var probs = new float[group * t * t];
            CausalAttention.Forward(q, k, v, att, probs, t, hd, qs, kvs, g, group);
            CausalAttention.Backward(q, k, v, probs, datt, dq, dk, dv, new float[t * t], t, hd, qs, kvs, g, group);
            for (int gh = 0; gh < group; gh++)
                for (int i = 0; i < t; i++)
                    for (int j = i + 1; j < t; j++)
                        Assert.That(probs[(gh * t + i) * t + j], Is.Zero, "masked probability");
        }
        var (rAtt, rDq, rDk, rDv) = Reference(q, k, v, datt, t, hd, group, kvHeads);
        Assert.Multiple(() =>
        {
            Check("att", att, rAtt);
            Check("dq", dq, rDq);
            Check("dk", dk, rDk);
            Check("dv", dv, rDv);
        });
    }

    static void Check(string name, float[] actual, double[] expected)
    {
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        TestContext.Out.WriteLine($"{name}: worst error {worst / scale:E2} of scale {scale:F3}");
        Assert.That(worst, Is.LessThanOrEqualTo(Tolerance * scale), name);
    }

    /// <summary>Naive causal GQA in double: S = QKᵀ/√d, P = softmax over j ≤ i, O = PV, and the textbook backward.</summary>
    static (double[] Att, double[] Dq, double[] Dk, double[] Dv) Reference(float[] q, float[] k, float[] v, float[] datt, int t, int hd, int group, int kvHeads)
    {
        int heads = group * kvHeads, qs = heads * hd, kvs = kvHeads * hd;
        double scale = 1 / Math.Sqrt(hd);
        var att = new double[t * qs];
        var dq = new double[t * qs];
        var dk = new double[t * kvs];
        var dv = new double[t * kvs];
        for (int h = 0; h < heads; h++)
        {
            int g = h / group;
            double Q(int i, int d) => q[i * qs + h * hd + d];
            double K(int j, int d) => k[j * kvs + g * hd + d];
            double V(int j, int d) => v[j * kvs + g * hd + d];
            double DO(int i, int d) => datt[i * qs + h * hd + d];
            for (int i = 0; i < t; i++)
            {
                var s = new double[i + 1];
                for (int j = 0; j <= i; j++)
                {
                    for (int d = 0; d < hd; d++) s[j] += Q(i, d) * K(j, d);
                    s[j] *= scale;
                }
                double max = s.Max(), z = s.Sum(x => Math.Exp(x - max));
                var p = s.Select(x => Math.Exp(x - max) / z).ToArray();
                var dp = new double[i + 1];
                for (int j = 0; j <= i; j++)
                    for (int d = 0; d < hd; d++)
                    {
                        att[i * qs + h * hd + d] += p[j] * V(j, d);
                        dv[j * kvs + g * hd + d] += p[j] * DO(i, d);
                        dp[j] += DO(i, d) * V(j, d);
                    }
                double dot = 0;
                for (int j = 0; j <= i; j++) dot += p[j] * dp[j];
                for (int j = 0; j <= i; j++)
                {
                    double ds = p[j] * (dp[j] - dot) * scale;
                    for (int d = 0; d < hd; d++)
                    {
                        dq[i * qs + h * hd + d] += ds * K(j, d);
                        dk[j * kvs + g * hd + d] += ds * Q(i, d);
                    }
                }
            }
        }
        return (att, dq, dk, dv);
    }

    [Test]
    public void Backward_ShortScratch_ThrowsNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => CausalAttention.Backward(new float[16], new float[16], new float[16], new float[16], new float[16],
            new float[16], new float[16], new float[16], new float[15], 4, 4, 4, 4, 0, 1));
        Assert.That(ex!.ParamName, Is.EqualTo("ds"));
    }
}
