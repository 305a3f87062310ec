using OnnxInterp.Trainer.Kernels;

namespace OnnxInterp.Tests.Trainer;

/// <summary>Every SGEMM variant and micro-kernel against a naive double-precision triple loop, on shapes that cross every block edge.</summary>
public class SgemmTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var kernel in new[] { SgemmKernel.Vector512, SgemmKernel.Vector256, SgemmKernel.VectorT })
            foreach (var variant in new[] { "NN", "TN", "NT" })
                foreach (var (m, n, k) in new[] { (1, 1, 1), (7, 13, 5), (37, 53, 29), (100, 70, 300), (200, 1030, 20) })
                    foreach (bool acc in new[] { false, true })
                        yield return new TestCaseData(kernel, variant, m, n, k, acc).SetName($"Sgemm_{kernel}_{variant}_{m}x{n}x{k}_acc{acc}_MatchesNaive");
    }

    /// <summary>
    /// Tolerance: a float dot product of k terms has error at most about k·2⁻²⁴·Σ|aᵢbᵢ|; blocking only reorders the
    /// sum, so |C − C_ref| ≤ 2·k·2⁻²⁴·Σ|aᵢbᵢ| (+ the same for the accumulated value) must hold element-wise.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void Variant_RandomShapes_MatchesNaiveWithinRoundingBound(SgemmKernel kernel, string variant, int m, int n, int k, bool accumulate)
    {
        if (!Sgemm.IsSupported(kernel)) Assert.Ignore($"{kernel} is not accelerated on this machine");
        var rng = new Random(m * 7919 + n * 31 + k);
        bool ta = variant == "TN", tb = variant == "NT";
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
        var a = Fill(rng, (ta ? k : m) * lda);
        var b = Fill(rng, (tb ? n : k) * ldb);
        var c = Fill(rng, m * ldc);
        var before = (float[])c.Clone();
        switch (variant)
        {
            case "NN": Sgemm.NN(m, n, k, a, lda, b, ldb, c, ldc, accumulate, kernel); break;
            case "TN": Sgemm.TN(m, n, k, a, lda, b, ldb, c, ldc, accumulate, kernel); break;
            default: Sgemm.NT(m, n, k, a, lda, b, ldb, c, ldc, accumulate, kernel); break;
        }
        double eps = Math.Pow(2, -24);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (int p = 0; p < k; p++)
                {
                    double x = ta ? a[p * lda + i] : a[i * lda + p];
                    double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    sum += x * y;
                    abs += Math.Abs(x * y);
                }
                double prev = accumulate ? before[i * ldc + j] : 0;
                double expected = sum + prev;
                double bound = 2 * (k + 1) * eps * (abs + Math.Abs(prev)) + 1e-30;
                Assert.That(Math.Abs(c[i * ldc + j] - expected), Is.LessThanOrEqualTo(bound), $"C[{i},{j}]");
            }
        // Padding between rows of C is left alone.
        for (int i = 0; i < m; i++)
            for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                Assert.That(c[i * ldc + j], Is.EqualTo(before[i * ldc + j]), $"padding C[{i},{j}]");
    }

    /// <summary>
    /// Each element of C is one thread's sum in a fixed K order, however rows and column panels are split between
    /// threads: the whole product equals the product computed one row at a time, bit for bit (training runs are
    /// reproducible across partitions and thread counts). Shapes: the family trainer's weight gradients (TN, k = 1536
    /// tokens: K/V 32 rows, Q/O/down 160, gate/up 448) and a forward product.
    /// </summary>
    [TestCase("TN", 32, 160, 1536)]
    [TestCase("TN", 160, 160, 1536)]
    [TestCase("TN", 448, 160, 1536)]
    [TestCase("TN", 160, 448, 1536)]
    [TestCase("NT", 1536, 448, 160)]
    public void Sgemm_WholeVersusRowByRow_BitIdentical(string variant, int m, int n, int k)
    {
        var rng = new Random(m + n + k);
        bool ta = variant == "TN";
        var a = Fill(rng, m * k);
        var b = Fill(rng, k * n);
        var whole = new float[m * n];
        var rows = new float[m * n];
        if (ta) Sgemm.TN(m, n, k, a, m, b, n, whole, n, false);
        else Sgemm.NT(m, n, k, a, k, b, k, whole, n, false);
        for (int i = 0; i < m; i++)
        {
            if (ta) Sgemm.TN(1, n, k, a.AsSpan(i), m, b, n, rows.AsSpan(i * n, n), n, false);
            else Sgemm.NT(1, n, k, a.AsSpan(i * k, k), k, b, k, rows.AsSpan(i * n, n), n, false);
        }
        Assert.That(whole, Is.EqualTo(rows), "bit-identical");
    }

    /// <summary>
    /// On the calling thread (parallel: false, as the attention kernel runs its per-head products) a product is the
    /// same, bit for bit, as the parallel one: the task grid changes who sums an element, never the order.
    /// </summary>
    [TestCase("NN", 1536, 160, 448)]
    [TestCase("TN", 160, 448, 1536)]
    [TestCase("NT", 96, 96, 32)]
    [TestCase("NT", 1536, 1024, 160)]
    public void Sgemm_SerialVersusParallel_BitIdentical(string variant, int m, int n, int k)
    {
        var rng = new Random(m * 3 + n + k);
        bool ta = variant == "TN", tb = variant == "NT";
        var a = Fill(rng, m * k);
        var b = Fill(rng, k * n);
        var parallel = new float[m * n];
        var serial = new float[m * n];
        foreach (var (c, par) in new[] { (parallel, true), (serial, false) })
        {
            if (ta) Sgemm.TN(m, n, k, a, m, b, n, c, n, false, parallel: par);
            else if (tb) Sgemm.NT(m, n, k, a, k, b, k, c, n, false, parallel: par);
            else Sgemm.NN(m, n, k, a, k, b, n, c, n, false, parallel: par);
        }
        Assert.That(serial, Is.EqualTo(parallel), "bit-identical");
    }

    [Test]
    public void Sgemm_ZeroK_ClearsOrKeeps()
    {
        var c = new float[] { 1, 2, 3, 4 };
        Sgemm.NN(2, 2, 0, [], 1, [], 2, c, 2, accumulate: true);
        Assert.That(c, Is.EqualTo(new float[] { 1, 2, 3, 4 }));
        Sgemm.NN(2, 2, 0, [], 1, [], 2, c, 2, accumulate: false);
        Assert.That(c, Is.EqualTo(new float[4]));
    }

    [Test]
    public void Sgemm_ShortSpan_ThrowsNamingTheOperand()
    {
        var ex = Assert.Throws<ArgumentException>(() => Sgemm.NN(4, 4, 4, new float[15], 4, new float[16], 4, new float[16], 4, false));
        Assert.That(ex!.ParamName, Is.EqualTo("a"));
    }

    static float[] Fill(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
