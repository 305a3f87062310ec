using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Analysis.Editing;

namespace OnnxInterp.Tests.Analysis.Editing;

/// <summary>ROME's closed form against its definition, on random matrices (seeded).</summary>
public class RomeUpdateTests
{
    const int D = 6, N = 9;

    static (FloatTensor W, Matrix<double> C, Random Rng) Setup(int seed)
    {
        var rng = new Random(seed);
        var w = new FloatTensor(Enumerable.Range(0, D * N).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), D, N);
        var a = Matrix<double>.Build.Dense(3 * N, N, (_, _) => rng.NextDouble() * 2 - 1);
        return (w, a.TransposeThisAndMultiply(a) / (3 * N), rng);
    }

    static double[] Random(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();

    static double[] Times(float[] w, double[] k)
    {
        var r = new double[D];
        for (int i = 0; i < D; i++) for (int j = 0; j < N; j++) r[i] += w[i * N + j] * k[j];
        return r;
    }

    [Test]
    public void OneKey_MapsItToItsValue_AsRomesRankOneFormula()
    {
        var (w, c, rng) = Setup(1);
        var k = Random(rng, N);
        var delta = Random(rng, D);
        var edited = RomeUpdate.Apply(w, c, [k], [delta]);
        var expected = Times(w.Data, k).Zip(delta, (a, b) => a + b).ToArray();
        Assert.That(Times(edited, k), Is.EqualTo(expected).Within(1e-5));
        // W' = W + δ (C⁻¹k)ᵀ / ((C⁻¹k)ᵀ k), written out.
        var u = c.Inverse() * Vector<double>.Build.DenseOfArray(k);
        double denom = u.DotProduct(Vector<double>.Build.DenseOfArray(k));
        for (int i = 0; i < D; i++)
            for (int j = 0; j < N; j++)
                Assert.That(edited[i * N + j], Is.EqualTo(w.Data[i * N + j] + delta[i] * u[j] / denom).Within(1e-5));
        // A key conjugate to k* under C⁻¹ (kᵀ C⁻¹ k* = 0) keeps its output.
        var other = Vector<double>.Build.DenseOfArray(Random(rng, N));
        var o = (other - u * (other.DotProduct(u) / u.DotProduct(u))).ToArray();
        Assert.That(Times(edited, o), Is.EqualTo(Times(w.Data, o)).Within(1e-4));
    }

    [Test]
    public void SeveralKeys_EachMapsToItsValue()
    {
        var (w, c, rng) = Setup(2);
        var keys = Enumerable.Range(0, 4).Select(_ => Random(rng, N)).ToList();
        var deltas = Enumerable.Range(0, 4).Select(_ => Random(rng, D)).ToList();
        var edited = RomeUpdate.Apply(w, c, keys, deltas);
        for (int i = 0; i < keys.Count; i++)
            Assert.That(Times(edited, keys[i]), Is.EqualTo(Times(w.Data, keys[i]).Zip(deltas[i], (a, b) => a + b).ToArray()).Within(1e-5), $"key {i}");
        Assert.That(RomeUpdate.RelativeChange(w.Data, edited), Is.GreaterThan(0));
        Assert.That(RomeUpdate.OutputChange(w, w.Data, c), Is.Zero);
    }

    [Test]
    public void SingularMomentOrRepeatedKey_TypedErrorsNamingTheCause()
    {
        var (w, c, rng) = Setup(3);
        var k = Random(rng, N);
        var singular = Matrix<double>.Build.Dense(N, N);
        singular[0, 0] = 1;
        Assert.That(Assert.Throws<InvalidArgumentException>(() => RomeUpdate.Apply(w, singular, [k], [Random(rng, D)]))!.Field, Is.EqualTo("corpus"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => RomeUpdate.Apply(w, c, [k, k], [Random(rng, D), Random(rng, D)]))!.Field, Is.EqualTo("facts"));
        Assert.That(Assert.Throws<InvalidArgumentException>(() => RomeUpdate.Apply(w, c, [k], []))!.Field, Is.EqualTo("keys"));
    }
}
