using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Analysis.Diff;

namespace OnnxInterp.Tests.Analysis.Diff;

/// <summary>The diff's kernels against double-precision scalar references (seeded logits, vocabularies off the vector width).</summary>
public class DivergenceTests
{
    static float[] Logits(Random rng, int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();

    static double[] RefLogSoftmax(float[] x)
    {
        double max = x.Max(v => (double)v), z = x.Sum(v => Math.Exp(v - max));
        return x.Select(v => v - max - Math.Log(z)).ToArray();
    }

    static double RefKl(float[] p, float[] q)
    {
        var lp = RefLogSoftmax(p);
        var lq = RefLogSoftmax(q);
        return lp.Select((a, i) => Math.Exp(a) * (a - lq[i])).Sum();
    }

    [TestCase(1, 3.0), TestCase(17, 3.0), TestCase(258, 10.0), TestCase(1031, 30.0), TestCase(32000, 8.0)]
    public void LogSoftmaxAndKl_RandomLogits_MatchDoubleReference(int vocab, double scale)
    {
        var rng = new Random(vocab);
        for (int trial = 0; trial < 5; trial++)
        {
            var p = Logits(rng, vocab, scale);
            var q = p.Select(v => v + (float)((rng.NextDouble() - 0.5) * scale * 0.3)).ToArray();
            var (lp, pp, lq, pq, scratch) = (new float[vocab], new float[vocab], new float[vocab], new float[vocab], new float[vocab]);
            Divergence.LogSoftmax(p, lp, pp);
            Divergence.LogSoftmax(q, lq, pq);
            var reference = RefLogSoftmax(p);
            for (int i = 0; i < vocab; i++)
            {
                Assert.That(lp[i], Is.EqualTo(reference[i]).Within(1e-5 + 1e-6 * Math.Abs(reference[i])));
                Assert.That(pp[i], Is.EqualTo(Math.Exp(reference[i])).Within(1e-6));
            }
            double kl = Divergence.Kl(pp, lp, lq, scratch), want = RefKl(p, q);
            Assert.That(kl, Is.EqualTo(want).Within(1e-5 + 1e-4 * want), $"vocab {vocab}, trial {trial}");
            Assert.That(Divergence.Kl(pp, lp, lp, scratch), Is.EqualTo(0.0), "KL(p ‖ p) is 0, never negative");
        }
    }

    [Test]
    public void LogSoftmax_InPlace_SameAsIntoAnotherSpan()
    {
        var x = Logits(new Random(3), 100, 5);
        var (a, pa, pb) = (new float[100], new float[100], new float[100]);
        Divergence.LogSoftmax(x, a, pa);
        var inPlace = (float[])x.Clone();
        Divergence.LogSoftmax(inPlace, inPlace, pb);
        Assert.That(inPlace, Is.EqualTo(a));
        Assert.That(pb, Is.EqualTo(pa));
    }

    [TestCase(1), TestCase(7), TestCase(258), TestCase(32001)]
    public void Top1AndRank_MatchNaiveCounts(int vocab)
    {
        var rng = new Random(vocab + 1);
        var x = Logits(rng, vocab, 4);
        int top = 0;
        for (int i = 1; i < vocab; i++) if (x[i] > x[top]) top = i;
        Assert.That(Divergence.Top1(x), Is.EqualTo(top));
        for (int k = 0; k < Math.Min(vocab, 40); k++)
        {
            int token = rng.Next(vocab);
            Assert.That(Divergence.Rank(x, token), Is.EqualTo(x.Count(v => v > x[token])), $"token {token}");
        }
        Assert.That(Divergence.Rank(x, top), Is.Zero);
    }

    [Test]
    public void Rank_Ties_CountOnlyStrictlyLarger()
    {
        float[] x = [1, 3, 3, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        Assert.That(Divergence.Rank(x, 1), Is.Zero);
        Assert.That(Divergence.Rank(x, 3), Is.EqualTo(4));
        Assert.That(Divergence.Rank(x, 5), Is.EqualTo(6));
        Assert.That(Divergence.Top1(x), Is.EqualTo(1), "the first of the tied largest");
    }
}

/// <summary>The principal directions of difference vectors against MathNet's full SVD.</summary>
public class DifferencePcaTests
{
    /// <summary>N rows with a known spectrum: a common shift plus three decaying random directions plus noise.</summary>
    static List<float[]> Rows(int n, int d, int seed)
    {
        var rng = new Random(seed);
        double[] Dir() { var v = Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 2 - 1).ToArray(); double s = Math.Sqrt(v.Sum(x => x * x)); return v.Select(x => x / s).ToArray(); }
        var shift = Dir();
        var dirs = new[] { Dir(), Dir(), Dir() };
        double[] scales = [3, 1.5, 0.8];
        return Enumerable.Range(0, n).Select(_ =>
        {
            var row = shift.Select(x => 2.0 * x).ToArray();
            for (int k = 0; k < 3; k++)
            {
                double c = (rng.NextDouble() * 2 - 1) * scales[k];
                for (int i = 0; i < d; i++) row[i] += c * dirs[k][i];
            }
            return row.Select(x => (float)(x + (rng.NextDouble() - 0.5) * 0.05)).ToArray();
        }).ToList();
    }

    [TestCase(300, 40), TestCase(60, 160), TestCase(5, 12)]
    public void Top_AgreesWithFullSvd_OrientedAlongTheMean(int n, int d)
    {
        var rows = Rows(n, d, n + d);
        var top = DifferencePca.Top(rows, 3);
        var m = Matrix<double>.Build.Dense(n, d, (i, j) => rows[i][j]);
        var svd = m.Svd(computeVectors: true);
        double total = rows.Sum(r => r.Sum(x => (double)x * x));
        var mean = Enumerable.Range(0, d).Select(j => rows.Average(r => (double)r[j])).ToArray();
        Assert.That(top, Has.Count.EqualTo(3));
        for (int k = 0; k < 3; k++)
        {
            var v = top[k].Vector;
            var want = svd.VT.Row(k);
            double cos = Enumerable.Range(0, d).Sum(i => v[i] * want[i]);
            Assert.That(Math.Abs(cos), Is.GreaterThan(0.9999), $"direction {k}");
            Assert.That(Math.Sqrt(v.Sum(x => (double)x * x)), Is.EqualTo(1).Within(1e-5));
            Assert.That(top[k].SingularValue, Is.EqualTo(svd.S[k]).Within(1e-4 * svd.S[0]));
            Assert.That(top[k].Share, Is.EqualTo(svd.S[k] * svd.S[k] / total).Within(1e-4));
            Assert.That(Enumerable.Range(0, d).Sum(i => v[i] * mean[i]), Is.GreaterThanOrEqualTo(0), "adding the direction moves toward the post-trained model");
        }
    }

    [Test]
    public void Top_SameInputTwice_BitIdentical()
    {
        var rows = Rows(200, 30, 9);
        var a = DifferencePca.Top(rows, 2);
        var b = DifferencePca.Top(rows, 2);
        Assert.That(a.Select(x => x.Vector), Is.EqualTo(b.Select(x => x.Vector)));
    }

    [Test]
    public void Top_MoreDirectionsThanRank_ReturnsAtMostRowsOrWidth()
    {
        var rows = Rows(2, 6, 1);
        Assert.That(DifferencePca.Top(rows, 5), Has.Count.EqualTo(2));
        Assert.That(() => DifferencePca.Top([], 1), Throws.TypeOf<InvalidArgumentException>());
    }
}
